"""Fixtures for the synth tests: a small stack per test, and the example tenants synthesized once.

A construct under test goes into its own ``TenantStack`` (the stack base class every tenant
stack uses: it hands out the readable Terraform addresses) inside a ``Testing.app()``, and
``Testing.synth`` renders just that stack. Full tenant stacks are synthesized once per session
through ``tenantml.synthesis.synth``, the function behind ``tenantml synth``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from infra_support import ACCOUNT_ID, BOUNDARY_ARN, EXAMPLE_TENANTS, SynthesizedStack, synthesize_specs

from core.naming import Naming
from core.spec import TenantSpec, load_specs
from infra.cdk import Testing
from infra.core import TenantStack
from infra.identity import ServiceRole, ServiceRoleProps
from infra.keys import TenantKey, TenantKeyProps
from infra.triggers import PythonFunction, PythonFunctionProps


@pytest.fixture
def stack(tmp_path: Path) -> TenantStack:
    """An empty stack in its own test app; put the construct under test in it, then synth it."""
    app = Testing.app(outdir=str(tmp_path / "cdktf.out"))
    return TenantStack(app, "test")


@pytest.fixture
def naming() -> Naming:
    return Naming(tenant="acme", environment="dev", region="eu-west-1", account_id=ACCOUNT_ID)


@pytest.fixture
def key(stack: TenantStack, naming: Naming) -> TenantKey:
    return TenantKey(stack, "Key", TenantKeyProps(naming=naming, account_id=ACCOUNT_ID, partition="aws"))


@pytest.fixture
def role(stack: TenantStack, naming: Naming) -> ServiceRole:
    """A workload role (address ``aws_iam_role.worker``) for grant methods to add statements to."""
    return ServiceRole(
        stack,
        "Worker",
        ServiceRoleProps(
            naming=naming,
            component="worker",
            description="receives grants in tests",
            assumed_by=("sagemaker.amazonaws.com",),
            boundary_arn=BOUNDARY_ARN,
        ),
    )


@pytest.fixture
def function_props(naming: Naming, key: TenantKey, tmp_path: Path) -> Callable[..., PythonFunctionProps]:
    """Valid ``PythonFunctionProps`` for the ``monitor`` handler; keyword arguments override fields."""

    def make(**overrides: Any) -> PythonFunctionProps:
        fields: dict[str, Any] = {
            "naming": naming,
            "handler_package": "monitor",
            "description": "turns inference logs into metrics",
            "key": key,
            "boundary_arn": BOUNDARY_ARN,
            "build_dir": tmp_path / "lambda-build",
            "account_id": ACCOUNT_ID,
        }
        fields.update(overrides)
        return PythonFunctionProps(**fields)

    return make


@pytest.fixture
def function(stack: TenantStack, function_props: Callable[..., PythonFunctionProps]) -> PythonFunction:
    """The ``monitor`` handler as construct ``Monitor`` (function address ``aws_lambda_function.monitor``)."""
    return PythonFunction(stack, "Monitor", function_props())


@pytest.fixture(scope="session")
def example_specs() -> list[TenantSpec]:
    return load_specs(EXAMPLE_TENANTS)


@pytest.fixture(scope="session")
def example_stacks(
    example_specs: list[TenantSpec], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, SynthesizedStack]:
    """``tenants/churn.yaml`` (EC2) and ``tenants/fraud.yaml`` (EKS), synthesized once per session."""
    return synthesize_specs(example_specs, tmp_path_factory.mktemp("examples"))
