from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from core.errors import ModelArtifactError
from pipelines.registry.artifacts import pack_model_dir, sha256_file, unpack_model_archive


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "model"
    (directory / "code").mkdir(parents=True)
    (directory / "model.joblib").write_bytes(b"\x80\x04pickle")
    (directory / "model_metadata.json").write_text('{"a": 1}')
    (directory / "code" / "inference.py").write_text("print('hi')")
    return directory


def test_archive_has_files_at_the_root_like_sagemaker(model_dir: Path, tmp_path: Path):
    archive = pack_model_dir(model_dir, tmp_path / "out" / "model.tar.gz")
    with tarfile.open(archive, "r:gz") as tar:
        assert sorted(tar.getnames()) == ["code/inference.py", "model.joblib", "model_metadata.json"]
        assert tar.extractfile("model.joblib").read() == b"\x80\x04pickle"


def test_default_archive_lands_beside_the_model_dir(model_dir: Path):
    assert pack_model_dir(model_dir) == model_dir.parent / "model.tar.gz"


def test_archives_are_reproducible_so_they_can_be_content_addressed(model_dir: Path, tmp_path: Path):
    first = pack_model_dir(model_dir, tmp_path / "a.tar.gz")
    # touching files (new mtimes) does not change the archive
    for path in model_dir.rglob("*"):
        path.touch()
    second = pack_model_dir(model_dir, tmp_path / "b.tar.gz")
    assert sha256_file(first) == sha256_file(second)
    (model_dir / "model.joblib").write_bytes(b"other")
    assert sha256_file(pack_model_dir(model_dir, tmp_path / "c.tar.gz")) != sha256_file(first)


def test_unpack_restores_the_directory(model_dir: Path, tmp_path: Path):
    archive = pack_model_dir(model_dir, tmp_path / "model.tar.gz")
    out = unpack_model_archive(archive, tmp_path / "serving")
    assert (out / "code" / "inference.py").read_text() == "print('hi')"
    assert (out / "model_metadata.json").read_text() == '{"a": 1}'


def test_unpack_refuses_paths_outside_the_destination(tmp_path: Path):
    # given an archive with a member that climbs out of the target directory
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    # when unpacked / then it fails, naming the archive, and writes nothing outside
    with pytest.raises(ModelArtifactError, match=r"evil\.tar\.gz: cannot be extracted"):
        unpack_model_archive(archive, tmp_path / "dest")
    assert not (tmp_path / "escaped.txt").exists()


def test_corrupt_archive_is_reported(tmp_path: Path):
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"not gzip")
    with pytest.raises(ModelArtifactError, match="cannot be extracted"):
        unpack_model_archive(archive, tmp_path / "dest")


def test_pack_refuses_missing_empty_or_self_containing_dirs(tmp_path: Path, model_dir: Path):
    with pytest.raises(ModelArtifactError, match="model directory does not exist"):
        pack_model_dir(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelArtifactError, match="model directory is empty"):
        pack_model_dir(tmp_path / "empty")
    with pytest.raises(ModelArtifactError, match="must not be written inside the model directory"):
        pack_model_dir(model_dir, model_dir / "model.tar.gz")
