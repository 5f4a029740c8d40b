"""The example tenant ``tenants/shop.yaml`` (two feature views) applied to the emulator with IAM
enforced, its functions running in the Lambda runtime and its jobs in the job runner; and clients
that act as its workload roles."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from role_support import role_client

from core.spec import load_specs
from tenantml.emulator import commands, iam_enforcement, jobs, server
from tenantml.emulator.images import push_local_image
from tenantml.synthesis import synth

TENANTS = Path(__file__).resolve().parents[3] / "tenants"
REGION = "eu-west-1"


@contextmanager
def applied_shop(endpoint: str, work: Path, *, push_image: bool) -> Iterator[dict[str, Any]]:
    """shop synthesized into ``work/out`` and applied (state in ``work/state``); ``push_image``: its
    image in its ECR repository, so its jobs run (without it a job fails at its image pull)."""
    from tenantml.emulator.runtime import install, uninstall

    server.reset(endpoint)
    (spec,) = load_specs(TENANTS, only="shop")
    previous = iam_enforcement.set_enforced(True)
    install(endpoint, REGION, code_cache_dir=work / "code")
    jobs.install(endpoint)
    try:
        synth([spec], work / "out")
        aws = server.make_session(endpoint, REGION)
        (applied,) = commands.apply_tenants(work / "out", ["shop"], work / "state", aws)
        admin = aws.for_account(spec.account_id)
        if push_image:
            push_local_image(
                admin.client("ecr", REGION), applied.outputs["image_repository_name"], spec.image_tag
            )
        yield {
            "spec": spec,
            "outputs": applied.outputs,
            "out": work / "out",
            "state": work / "state",
            "aws": aws,
            "admin": lambda service: admin.client(service, REGION),
        }
    finally:
        jobs.uninstall(timeout=10)
        uninstall(timeout=10)
        iam_enforcement.set_enforced(previous)


def as_role(shop: dict[str, Any], role: str, service: str) -> Any:
    """A ``service`` client acting as shop's ``role`` role."""
    return role_client(
        shop["aws"].endpoint,
        shop["outputs"][f"{role}_role_arn"],
        service,
        REGION,
        session_name=f"test-{role}",
    )
