"""The deploy workflows' wiring, parsed with PyYAML: the matrix reads ``tenantml changed``'s output,
one concurrency group per tenant, each stack planned before exactly that plan is applied, and no job
matrix that can pass GitHub's 256 jobs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.errors import UsageError
from tenantml.changes import DEFAULT_BATCH_SIZE, MAX_MATRIX_JOBS, batches

WORKFLOWS = Path(__file__).resolve().parents[3] / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def run_lines(job: dict[str, Any]) -> list[tuple[int, str]]:
    """(step index, line) of every line of the job's shell steps."""
    return [
        (i, line.strip()) for i, step in enumerate(job["steps"]) for line in step.get("run", "").splitlines()
    ]


def first(lines: list[tuple[int, str]], pattern: str) -> tuple[int, int]:
    """(step index, line number) of the first line matching ``pattern``."""
    for number, (step, line) in enumerate(lines):
        if re.search(pattern, line):
            return step, number
    raise AssertionError(f"no step runs {pattern!r}")


@pytest.fixture(scope="module")
def deploy() -> dict[str, Any]:
    return load("deploy.yml")


@pytest.fixture(scope="module")
def tenant_job() -> dict[str, Any]:
    doc = load("deploy-tenants.yml")
    assert "workflow_call" in doc["on"]
    return doc["jobs"]["tenant"]


def test_the_batches_come_from_tenantml_changed_between_the_push_and_its_base(deploy):
    # given: the step that runs the command
    job = deploy["jobs"]["changed"]
    step = next(s for s in job["steps"] if s.get("id") == "changed")
    calls = [shlex.split(line) for line in step["run"].splitlines() if "tenantml changed" in line]
    json_call = next(c for c in calls if "json" in c)

    # then: base and head are the push's, through the environment; the batches are the JSON's
    assert Path(json_call[0]).name == "tenantml" and json_call[1] == "changed"
    options = dict(zip(json_call[2::2], json_call[3::2], strict=True))
    assert options["--base"] == "$BASE" and options["--head"] == "$GITHUB_SHA"
    assert "github.event.before" in step["env"]["BASE"]
    assert int(options["--batch-size"]) <= MAX_MATRIX_JOBS
    assert f"jq -c .batches {options['--output']}" in step["run"]
    assert job["outputs"]["batches"] == "${{ steps.changed.outputs.batches }}"
    # the base commit must be in the clone
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0


def test_the_deploy_matrix_is_the_batches_and_each_batch_is_a_tenant_matrix(deploy, tenant_job):
    job = deploy["jobs"]["deploy"]
    assert job["needs"] == "changed"
    assert job["strategy"]["matrix"]["batch"] == "${{ fromJSON(needs.changed.outputs.batches) }}"
    assert job["uses"] == "./.github/workflows/deploy-tenants.yml"
    assert job["with"]["tenants"] == "${{ toJSON(matrix.batch.tenants) }}"
    assert tenant_job["strategy"]["matrix"]["tenant"] == "${{ fromJSON(inputs.tenants) }}"
    assert tenant_job["strategy"]["fail-fast"] is False and job["strategy"]["fail-fast"] is False


def test_no_job_matrix_can_exceed_256_jobs(deploy, tenant_job):
    # every matrix in the deploy workflows is one of the two fed by `tenantml changed` ...
    matrices = {
        f"{name}.{job_id}": job["strategy"]["matrix"]
        for name in ("deploy.yml", "deploy-tenants.yml")
        for job_id, job in load(name)["jobs"].items()
        if "strategy" in job
    }
    assert matrices == {
        "deploy.yml.deploy": {"batch": "${{ fromJSON(needs.changed.outputs.batches) }}"},
        "deploy-tenants.yml.tenant": {"tenant": "${{ fromJSON(inputs.tenants) }}"},
    }
    # ... whose batches hold at most 256 tenants and number at most 256
    assert DEFAULT_BATCH_SIZE <= MAX_MATRIX_JOBS == 256
    names = [f"t{i}" for i in range(1000)]
    assert [len(b["tenants"]) for b in batches(names)] == [200] * 5
    assert len(batches([f"t{i}" for i in range(MAX_MATRIX_JOBS * 2)], 2)) == MAX_MATRIX_JOBS
    with pytest.raises(UsageError, match="more than the 256 jobs a matrix may have"):
        batches([f"t{i}" for i in range(MAX_MATRIX_JOBS * 2 + 1)], 2)
    with pytest.raises(UsageError, match="--batch-size 257 must be between 1 and 256"):
        batches(names, 257)


def test_one_concurrency_group_per_tenant_never_cancelling_an_apply(tenant_job):
    assert tenant_job["concurrency"]["group"] == "deploy-${{ matrix.tenant }}"
    assert tenant_job["concurrency"]["cancel-in-progress"] is False


@pytest.mark.parametrize("stack", ["$TENANT", "$TENANT-kubernetes"])
def test_each_stack_is_planned_shown_and_exactly_that_plan_applied(tenant_job, stack):
    lines = run_lines(tenant_job)
    chdir = re.escape(f'terraform -chdir="cdktf.out/stacks/{stack}"')
    init = first(lines, chdir + " init -input=false$")
    plan = first(lines, chdir + " plan -input=false -out=tfplan$")
    show = first(lines, chdir + " show -no-color tfplan > ")
    apply = first(lines, chdir + " apply -input=false tfplan$")
    assert init < plan < show < apply
    # the shown plan goes to the job summary before the apply
    summary = next(n for n, (_, line) in enumerate(lines) if n > show[1] and 'GITHUB_STEP_SUMMARY"' in line)
    assert summary < apply[1]
    assert not any("-auto-approve" in line for _, line in lines)


def test_the_kubernetes_stack_is_applied_after_the_cluster_stack(tenant_job):
    lines = run_lines(tenant_job)
    cluster = first(lines, re.escape('-chdir="cdktf.out/stacks/$TENANT" apply'))
    kubernetes_plan = first(lines, re.escape('-chdir="cdktf.out/stacks/$TENANT-kubernetes" plan'))
    assert cluster[0] < kubernetes_plan[0]  # a later step: only once the cluster stack applied
    assert tenant_job["runs-on"] == "${{ vars.DEPLOY_RUNNER || 'ubuntu-latest' }}"
