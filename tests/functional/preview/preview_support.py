"""Helpers for the preview tests: a real temporary git repository holding the project's code.

The ``preview_repo`` fixture (``conftest.py``) copies what a synth needs (``infra/``, ``stacks/``,
``tenantml/``, ``pipelines/``, ``lambdas/``, ``cdktf.json``) into a fresh directory, writes two
tenants (``churn`` on EC2, ``fraud`` on EKS) and commits them as the base, then commits a change
that adds a tenant, changes an instance type and renames fraud's buckets (through its account
id, which is part of every bucket name). The specs are written here, not copied from
``tenants/``, so that the expected report does not change when the examples do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SOURCES = ("core", "infra", "stacks", "tenantml", "pipelines", "lambdas", "cdktf.json")

CHURN = """\
name: churn
environment: dev
region: eu-west-1
account_id: "123456789012"
owners: [data-science@example.com]
image_tag: "1.0.0"
compute:
  kind: ec2
  instance_types: [m6i.large]
  vpc_cidr: 10.10.0.0/16
model:
  name: churn
  problem: classification
  target: target
  primary_metric: roc_auc
  minimum_metric: 0.9
tags:
  cost-center: "cc-1001"
"""

FRAUD = """\
name: fraud
environment: prod
region: us-east-1
account_id: "111122223333"
owners: [fraud-ml@example.com]
image_tag: "1.0.0"
compute:
  kind: eks
  instance_types: [m6i.xlarge]
  min_nodes: 2
  max_nodes: 4
  vpc_cidr: 10.20.0.0/16
streaming:
  mode: on_demand
model:
  name: fraud
  problem: classification
  target: target
  primary_metric: roc_auc
  minimum_metric: 0.95
tags:
  cost-center: "cc-2002"
"""

SEARCH = """\
name: search
environment: staging
region: us-east-1
account_id: "123456789012"
owners: [search@example.com]
image_tag: "1.0.0"
compute:
  kind: ec2
  instance_types: [t3.large]
  vpc_cidr: 10.30.0.0/16
model:
  name: ranker
  problem: regression
  target: clicks
  primary_metric: rmse
  minimum_metric: 2.0
  estimator: ridge
tags:
  cost-center: "cc-3003"
"""

GIT_ENV = {
    "GIT_AUTHOR_NAME": "tenantml tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "tenantml tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def copy_project(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".lambda-build", "cdktf.out")
    for name in SOURCES:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)


def write_tenants(repo: Path, **specs: str) -> None:
    tenants = repo / "tenants"
    tenants.mkdir(exist_ok=True)
    for name, text in specs.items():
        (tenants / f"{name}.yaml").write_text(text)
