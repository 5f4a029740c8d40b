from pathlib import Path

from core.sagemaker_paths import OPT_ML_ENV, opt_ml


def test_paths_under_opt_ml_move_to_the_job_directory(tmp_path: Path) -> None:
    env = {OPT_ML_ENV: str(tmp_path)}
    assert opt_ml("/opt/ml/processing/input/data", env) == tmp_path / "processing" / "input" / "data"
    assert opt_ml("/opt/ml", env) == tmp_path


def test_other_paths_and_real_containers_keep_the_path(tmp_path: Path) -> None:
    assert opt_ml("/opt/ml/model", {}) == Path("/opt/ml/model")
    assert opt_ml("/opt/mlx/model", {OPT_ML_ENV: str(tmp_path)}) == Path("/opt/mlx/model")
    assert opt_ml("/data/in", {OPT_ML_ENV: str(tmp_path)}) == Path("/data/in")
