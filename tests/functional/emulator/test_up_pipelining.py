"""`tenantml up` starts a tenant's lifecycle as soon as ITS stack is applied, not after every tenant's.

`up` runs in a subprocess (stdout a pipe, so one plain line per step and per resource) with churn
and fraud, and the real tenant step that drops the sample dataset. fraud's search may run 600 s,
churn's 120 s, so fraud is applied first (its run is the one likely to end last). A stand-in for
the lifecycle step, run once every tenant is applied, reports what churn's data bucket and
data-arrival function hold by then. The order is read from the printed lines.
"""

from __future__ import annotations

import re
import shutil

import pytest
from up_script_support import ROOT, run_up_script

_UP = """
import json, sys
from pathlib import Path
from rich.console import Console
from core.platform import load_platform
from core.spec import load_specs
from tenantml.lifecycle import drop_sample_dataset
from tenantml.sample_data import SAMPLE_KEY
from tenantml.up_console import run_up

def what_churn_holds(context, summary):
    churn = next(a for a in summary.applied if a.tenant == "churn")
    spec = context.spec_of("churn")
    s3 = context.server_session.for_account(spec.account_id).client("s3", spec.region)
    size = s3.head_object(Bucket=churn.outputs["data_bucket_name"], Key=SAMPLE_KEY)["ContentLength"]
    context.runtime.wait_idle(timeout=120)
    runs = context.runtime.history(churn.outputs["data_arrival_function_name"])
    context.report(f"check: churn's dataset holds {size} bytes; its data-arrival function ran {len(runs)} time(s)")

tenants = Path(sys.argv[1])
run_up(load_specs(tenants), Console(), out_dir=Path("cdktf.out"), port=0, once=True,
       platform=load_platform(tenants.parent / "platform.yaml"),
       tenant_steps=[drop_sample_dataset], steps=[what_churn_holds],
       up_file=Path(".tenantml/up.json"), state_dir=Path(".tenantml/state"))
"""


@pytest.fixture(scope="module")
def up_lines(tmp_path_factory) -> list[str]:
    workdir = tmp_path_factory.mktemp("up-pipelining")
    tenants = workdir / "tenants"
    tenants.mkdir()
    for name in ("churn", "fraud"):
        shutil.copy(ROOT / "tenants" / f"{name}.yaml", tenants)
    shutil.copy(ROOT / "platform.yaml", workdir)
    return run_up_script(_UP, tenants, workdir)


def _indexes(lines: list[str], pattern: str) -> list[int]:
    found = [i for i, line in enumerate(lines) if re.search(pattern, line)]
    assert found, f"no line matches {pattern!r} in:\n" + "\n".join(lines)
    return found


def test_given_two_tenants_when_up_applies_them_then_the_first_ones_data_lands_before_the_second_is_applied(
    up_lines,
):
    lines = up_lines
    fraud_changes = _indexes(lines, r"^  fraud(-kubernetes)?: create \S+ \(\d+\.\d\d s\)$")
    fraud_outputs = _indexes(lines, r"^\s*fraud: \d+ change\(s\) in ")[0]
    fraud_pushed = _indexes(lines, r"^pushed fraud's image ")[0]
    fraud_dropped = _indexes(
        lines,
        r"^fraud: dropped the sample dataset at s3://tenantml-fraud-prod-data-\d{12}/"
        r"incoming/sample/breast_cancer\.parquet; its data-arrival function starts the pipeline$",
    )
    churn_changes = _indexes(lines, r"^  churn: create \S+ \(\d+\.\d\d s\)$")
    churn_dropped = _indexes(lines, r"^churn: dropped the sample dataset at s3://tenantml-churn-dev-data-")

    # then: the longer search first; fraud's stacks (its Kubernetes stack too), its outputs, its
    # image, its data, and only then churn's first resource
    assert _indexes(lines, r"^applying fraud, churn to the AWS emulator at ")
    assert max(fraud_changes) < fraud_outputs < fraud_pushed < fraud_dropped[0] < min(churn_changes)
    # and each tenant's data lands once, after its own stack
    assert len(churn_dropped) == len(fraud_dropped) == 1
    assert max(churn_changes) < churn_dropped[0]


def test_given_churns_data_dropped_during_the_apply_when_every_tenant_is_applied_then_it_is_there_and_its_run_started(
    up_lines,
):
    check = up_lines[_indexes(up_lines, r"^check: ")[0]]

    # then: the object is the whole Parquet file, and S3 invoked the data-arrival function once
    size = int(re.search(r"holds (\d+) bytes", check).group(1))
    assert size > 10_000
    assert check.endswith("its data-arrival function ran 1 time(s)")
