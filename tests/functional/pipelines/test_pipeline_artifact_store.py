from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ModelArtifactError
from pipelines.registry.artifacts import download_artifact, pack_model_dir, sha256_file, upload_artifact


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.joblib").write_bytes(b"weights")
    return pack_model_dir(model_dir, tmp_path / "model.tar.gz")


def test_upload_is_content_addressed_and_skips_existing_objects(s3, bucket, archive: Path):
    # given a packed model / when uploaded twice
    first = upload_artifact(s3, bucket, archive)
    second = upload_artifact(s3, bucket, archive)
    # then it lands under its own digest once
    digest = sha256_file(archive)
    assert first.uri == f"s3://{bucket}/models/sha256/{digest}/model.tar.gz"
    assert (first.uploaded, second.uploaded) == (True, False)
    assert second.uri == first.uri and second.sha256 == digest
    versions = s3.list_object_versions(Bucket=bucket, Prefix="models/")["Versions"]
    assert len(versions) == 1
    head = s3.head_object(Bucket=bucket, Key=f"models/sha256/{digest}/model.tar.gz")
    assert head["Metadata"] == {"sha256": digest}
    assert head["ContentLength"] == archive.stat().st_size


def test_download_verifies_the_digest_in_the_key(s3, bucket, archive: Path, tmp_path: Path):
    stored = upload_artifact(s3, bucket, archive)
    copy = download_artifact(s3, stored.uri, tmp_path / "copy" / "model.tar.gz")
    assert copy.read_bytes() == archive.read_bytes()
    # given an object whose content no longer matches its key
    key = stored.uri.removeprefix(f"s3://{bucket}/")
    s3.put_object(Bucket=bucket, Key=key, Body=b"tampered")
    # when downloaded / then it is refused and not left on disk
    target = tmp_path / "tampered.tar.gz"
    with pytest.raises(ModelArtifactError, match=f"{stored.uri}: sha256 mismatch: expected {stored.sha256}"):
        download_artifact(s3, stored.uri, target)
    assert not target.exists()
