from __future__ import annotations

import platform
import re
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.errors import ModelRegistryError
from pipelines.registry.lineage import Lineage, code_revision, library_versions
from pipelines.registry.sagemaker import decode_lineage, encode_metadata


def _lineage(**overrides) -> Lineage:
    values: dict[str, object] = {
        "run_id": "run-1",
        "data_uri": "s3://acme-data/raw/2024/train.parquet",
        "data_version_id": "v1",
        "data_sha256": "a" * 64,
        "code_revision": "0123abc",
        "parameters": {"C": 0.5, "class_weight": None},
        "metrics": {"roc_auc": 0.97},
        "library_versions": {"scikit-learn": "1.9.1"},
        "artifact_uri": "s3://acme-models/models/sha256/" + "b" * 64 + "/model.tar.gz",
        "artifact_sha256": "b" * 64,
    }
    return Lineage(**{**values, **overrides})


def test_library_versions_name_python_and_the_ml_stack():
    versions = library_versions()
    assert versions["python"] == platform.python_version()
    assert {"scikit-learn", "numpy", "pandas", "optuna"} <= set(versions)


def test_code_revision_prefers_the_environment(monkeypatch):
    monkeypatch.setenv("TENANTML_CODE_REVISION", "deadbeef")
    assert code_revision() == "deadbeef"


def test_code_revision_outside_a_git_tree_is_unknown(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("TENANTML_CODE_REVISION", raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert code_revision(tmp_path) == "unknown"


def test_code_revision_is_the_commit_and_marks_uncommitted_changes(monkeypatch, tmp_path: Path):
    # given a git repository with one commit
    monkeypatch.delenv("TENANTML_CODE_REVISION", raising=False)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "train.py").write_text("v1")
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    sha = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    # when asked for the revision / then it is the commit
    assert code_revision(tmp_path) == sha
    assert re.fullmatch(r"[0-9a-f]{40}", sha)
    # and a changed tracked file makes it dirty
    (tmp_path / "train.py").write_text("v2")
    assert code_revision(tmp_path) == f"{sha}-dirty"


def test_lineage_rejects_a_malformed_hash():
    with pytest.raises(ValidationError, match="data_sha256"):
        _lineage(data_sha256="not-a-hash")


def test_metadata_respects_sagemaker_limits_and_round_trips():
    # given a lineage whose JSON is far longer than one 256-character metadata value
    lineage = _lineage(parameters={f"param_{i}": "x" * 40 for i in range(30)})
    # when encoded for CustomerMetadataProperties
    metadata = encode_metadata(lineage, aliases={"champion": 3})
    # then every value fits SageMaker's limits and the lineage decodes unchanged
    assert len(metadata) <= 50
    assert all(1 <= len(v) <= 256 and len(k) <= 128 for k, v in metadata.items())
    assert int(metadata["tenantml:lineage-chunks"]) > 1
    assert metadata["tenantml:alias:champion"] == "3"
    assert metadata["tenantml:run-id"] == "run-1"
    assert decode_lineage(metadata) == lineage
    assert decode_lineage({"owner": "someone"}) is None


def test_too_much_lineage_for_sagemaker_is_refused():
    lineage = _lineage(parameters={f"p{i}": "y" * 200 for i in range(60)})
    with pytest.raises(ModelRegistryError, match=r"needs \d+ metadata entries; SageMaker allows 50"):
        encode_metadata(lineage)


def test_corrupt_lineage_metadata_is_an_error():
    metadata = encode_metadata(_lineage())
    del metadata["tenantml:lineage:00"]
    with pytest.raises(ModelRegistryError, match="arn:x: lineage metadata is incomplete or corrupt"):
        decode_lineage(metadata, where="arn:x")
