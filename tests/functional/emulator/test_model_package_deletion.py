"""Destroying a tenant removes its registered model versions, as `tenantml destroy` against a running `up` must.

The emulator runs in another process here, as it does under `tenantml up`: `tenantml destroy` reaches it
only through the API, so it cannot take a shortcut into moto's memory.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tenantml.emulator import server
from tenantml.emulator.apply import apply, destroy

ROOT = Path(__file__).resolve().parents[3]
REGION = "eu-west-1"
GROUP = "demo-model"
STOP_TIMEOUT_S = 60

_EMULATOR = """
import sys
from tenantml.emulator import server
running = server.start(0)
print(running.endpoint, flush=True)
sys.stdin.read()  # runs until the test closes stdin
running.stop()
"""

DOCUMENT = {
    "provider": {"aws": [{"region": REGION}]},
    "resource": {"aws_sagemaker_model_package_group": {"registry": {"model_package_group_name": GROUP}}},
    "output": {"group": {"value": "${aws_sagemaker_model_package_group.registry.model_package_group_name}"}},
}


class SeparateEmulator:
    """The emulator in its own process, as under `tenantml up`; ``stop()`` returns what it wrote to stderr."""

    def __init__(self, stderr_path: Path) -> None:
        self._stderr_path = stderr_path
        with stderr_path.open("w") as stderr:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _EMULATOR],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
            )
        endpoint = self._process.stdout.readline().strip()  # type: ignore[union-attr]
        if not endpoint.startswith("http://127.0.0.1:"):
            self.stop()
            raise AssertionError(f"the emulator did not start:\n{stderr_path.read_text()}")
        self.session = server.make_session(endpoint, REGION)

    def stop(self) -> str:
        if self._process.poll() is None:
            self._process.stdin.close()  # type: ignore[union-attr]
            try:
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        return self._stderr_path.read_text()


@pytest.fixture
def separate_emulator(tmp_path: Path) -> Iterator[SeparateEmulator]:
    emulator = SeparateEmulator(tmp_path / "emulator.stderr")
    try:
        yield emulator
    finally:
        emulator.stop()


def _register_champion(sagemaker) -> str:
    return sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        InferenceSpecification={
            "Containers": [{"Image": "local/model:1", "ModelDataUrl": "s3://gone/model.tar.gz"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties={"alias.champion": "1"},
    )["ModelPackageArn"]


def test_given_a_registered_version_when_destroyed_and_re_applied_then_no_stale_version_or_traceback_remains(
    separate_emulator, tmp_path
):
    # given: an applied registry with an approved champion version in it
    aws = separate_emulator.session
    state_file = tmp_path / "demo.json"
    apply(DOCUMENT, state_file, aws)
    sagemaker = aws.client("sagemaker")
    _register_champion(sagemaker)

    # when
    destroy(state_file, aws)
    apply(DOCUMENT, state_file, aws)

    # then: the re-created group is empty and the next version is version 1 again
    assert sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"] == []
    arn = _register_champion(sagemaker)
    assert sagemaker.describe_model_package(ModelPackageName=arn)["ModelPackageVersion"] == 1
    # and the emulator logged no traceback (moto's "has not been implemented" is one); stopping it
    # first, so that everything it wrote has been written
    destroy(state_file, aws)
    assert "Traceback" not in separate_emulator.stop()


def test_given_a_group_with_versions_when_the_group_is_deleted_then_sagemaker_refuses_as_aws_does(emulator):
    # given
    aws = server.make_session(emulator.endpoint, REGION)
    server.reset(emulator.endpoint)
    sagemaker = aws.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    arn = _register_champion(sagemaker)

    # when / then: a group that still holds versions cannot be deleted
    with pytest.raises(ClientError) as refused:
        sagemaker.delete_model_package_group(ModelPackageGroupName=GROUP)
    assert refused.value.response["Error"]["Code"] == "ConflictException"
    assert GROUP in refused.value.response["Error"]["Message"]

    # and once its versions are deleted it can, and both are gone
    sagemaker.delete_model_package(ModelPackageName=arn)
    sagemaker.delete_model_package_group(ModelPackageGroupName=GROUP)
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []
    with pytest.raises(ClientError) as missing:
        sagemaker.describe_model_package(ModelPackageName=arn)
    assert missing.value.response["Error"]["Code"] == "ValidationException"
