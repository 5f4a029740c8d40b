"""`tenantml bootstrap` on the emulator: each account's state bucket, and every tenant backend can initialise."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from core.platform import load_platform
from core.spec import load_specs
from tenantml.bootstrap import apply_bootstrap, backend_problems, tenant_backends
from tenantml.emulator.session import AwsSession
from tenantml.synthesis import BootstrapResult, synth, synth_bootstrap

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[BootstrapResult]]:
    """Both example tenants and their accounts' bootstraps, with the repository's platform.yaml."""
    out = tmp_path_factory.mktemp("cdktf.out")
    specs = load_specs(ROOT / "tenants")
    platform = load_platform(ROOT / "platform.yaml")
    synth(specs, out, platform)
    return out, synth_bootstrap(specs, out, platform)


def test_given_no_bootstrap_when_backends_are_checked_then_each_tenant_is_told_to_bootstrap(
    aws: AwsSession, synthesized
):
    # given
    out, _ = synthesized

    # when
    problems = backend_problems(tenant_backends(out), aws)

    # then: the old shared bucket failed for one tenant silently; now every stack is named
    assert sorted(p.location for p in problems) == [
        "tenant churn: terraform.backend.s3.bucket",
        "tenant fraud-kubernetes: terraform.backend.s3.bucket",
        "tenant fraud: terraform.backend.s3.bucket",
        "tenant shop: terraform.backend.s3.bucket",
    ]
    assert all("tenantml bootstrap" in p.message for p in problems)


def test_given_the_bootstrap_applied_then_every_tenant_backend_names_a_bucket_it_created_in_the_state_region(
    aws: AwsSession, synthesized, tmp_path: Path
):
    # given
    out, results = synthesized

    # when
    applied = apply_bootstrap(out, results, tmp_path / "state", aws)

    # then
    assert sorted(a.tenant for a in applied) == sorted(r.stack for r in results)
    backends = tenant_backends(out)
    # fraud's Kubernetes workload stack keeps its state beside fraud's, under a key of its own
    assert {b.tenant for b in backends} == {"churn", "fraud", "fraud-kubernetes", "shop"}
    assert backend_problems(backends, aws) == []
    created = {a.outputs["state_bucket_name"] for a in applied}
    assert {b.bucket for b in backends} <= created
    assert {b.region for b in backends} == {"us-east-1"}
    assert len({(b.bucket, b.key) for b in backends}) == len(backends)
    for result in results:
        s3 = aws.client("s3", result.region)
        assert s3.get_bucket_versioning(Bucket=result.bucket)["Status"] == "Enabled"
        block = s3.get_public_access_block(Bucket=result.bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values())


def test_given_the_bootstrap_applied_then_s3_native_locking_works_on_each_tenants_key(
    aws: AwsSession, synthesized, tmp_path: Path
):
    # given
    out, results = synthesized
    apply_bootstrap(out, results, tmp_path / "state", aws)

    for backend in tenant_backends(out):
        s3 = aws.client("s3", backend.region)
        lock = f"{backend.key}.tflock"
        # when: Terraform >= 1.10 takes the lock with a conditional write, as here (with the backend's
        # encrypt and kms_key_id: the SSE-KMS headers naming the state key)
        sse = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": backend.kms_key_id}
        s3.put_object(Bucket=backend.bucket, Key=lock, Body=b'{"ID":"one"}', IfNoneMatch="*", **sse)

        # then: a second writer is refused while the lock exists, and the lock is KMS-encrypted
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket=backend.bucket, Key=lock, Body=b'{"ID":"two"}', IfNoneMatch="*", **sse)
        assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
        assert s3.head_object(Bucket=backend.bucket, Key=lock)["ServerSideEncryption"] == "aws:kms"


def test_given_the_bootstrap_applied_twice_then_nothing_changes_the_second_time(
    aws: AwsSession, synthesized, tmp_path: Path
):
    # given
    out, results = synthesized
    apply_bootstrap(out, results, tmp_path / "state", aws)

    # when
    again = apply_bootstrap(out, results, tmp_path / "state", aws)

    # then
    assert [len(a.result.applied) for a in again] == [0 for _ in again]


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"ServerSideEncryption": "aws:kms"}, True),
        ({"ServerSideEncryption": "AES256"}, False),
        # the bucket's default is SSE-KMS, but the condition reads the request's header only, as on AWS
        ({}, False),
    ],
    ids=["kms", "aes256", "no-header"],
)
def test_given_the_bootstrap_applied_then_the_state_bucket_takes_only_kms_encrypted_uploads(
    aws: AwsSession, synthesized, tmp_path: Path, headers, allowed
):
    # given
    out, results = synthesized
    apply_bootstrap(out, results, tmp_path / "state", aws)
    backend = tenant_backends(out)[0]
    s3 = aws.client("s3", backend.region)

    # when
    def upload():
        return s3.put_object(Bucket=backend.bucket, Key="probe/terraform.tfstate", Body=b"{}", **headers)

    # then
    if allowed:
        assert upload()["ServerSideEncryption"] == "aws:kms"
    else:
        with pytest.raises(ClientError) as denied:
            upload()
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
        with pytest.raises(ClientError) as missing:
            s3.head_object(Bucket=backend.bucket, Key="probe/terraform.tfstate")
        assert missing.value.response["Error"]["Code"] == "404"
