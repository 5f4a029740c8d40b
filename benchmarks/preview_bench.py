"""``tenantml preview`` end to end on 20 tenants, run twice; with ``--thousand``, on 1,000.

Builds a temporary git repository holding the project's code and 20 generated tenant specs (half
EKS, half EC2, with varying sizes, streams and regions), commits them, then changes a few
(an instance type, a node count, a stream mode, a new tenant, a removed tenant) in the working
tree and runs ``python -m tenantml.cli preview --base HEAD`` in a fresh process, both synths
included, twice, each with an empty synthesis cache. Target on the 2-core reference machine:
<= 10 s wall per run.

``--thousand`` (issue 17): 1,000 committed tenants; (a) one spec edited in the working tree,
target <= 30 s; (b) a code change reaching every stack (a comment added to ``infra/storage.py``),
target <= 3 minutes; each twice, each with an empty synthesis cache (the worst case: in CI the
cache restored from earlier runs already holds the base's stacks).

    .venv/bin/python benchmarks/preview_bench.py [--thousand]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("infra", "stacks", "tenantml", "pipelines", "lambdas", "cdktf.json")
TENANTS = 20
TARGET_SECONDS = 10.0
REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "eu-central-1")
EC2_TYPES = ("t3.large", "m6i.large", "c6i.xlarge", "r6i.large")
EKS_TYPES = ("m6i.xlarge", "m6i.2xlarge", "c6i.2xlarge", "r6i.xlarge")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def spec(i: int) -> dict:
    """Tenant ``team<iii>``: even numbers on EKS, odd on EC2, sizes and settings varying with ``i``."""
    eks = i % 2 == 0
    doc = {
        "name": f"team{i:03d}",
        "environment": ("dev", "staging", "prod")[i % 3],
        "region": REGIONS[i % len(REGIONS)],
        "owners": [f"team{i:03d}@example.com"],
        "image_tag": "1.0.0",
        "alert_emails": [f"team{i:03d}-oncall@example.com"] * (i % 2),
        "compute": {
            "kind": "eks" if eks else "ec2",
            "instance_types": [(EKS_TYPES if eks else EC2_TYPES)[i // 2 % 4]],
            "min_nodes": 1 + i % 3,
            "max_nodes": 4 + i % 5,
            "vpc_cidr": f"10.{i // 16}.{(i % 16) * 16}.0/20",
            "availability_zones": 3 if eks and i % 4 == 0 else 2,
        },
        "streaming": {"mode": "on_demand"} if i % 3 == 0 else {"mode": "provisioned", "shards": 1 + i % 4},
        "model": {
            "name": f"model{i}",
            "problem": "classification",
            "target": "label",
            "primary_metric": "roc_auc",
            "minimum_metric": 0.8,
        },
        "lambdas": {"reserved_concurrency": 2 + i % 10, "log_retention_days": (7, 30, 90)[i % 3]},
        "tags": {"cost-center": f"cc-{1000 + i}"},
    }
    # remote state needs an account (its bucket is named with it): seven accounts shared by the tenants
    doc["account_id"] = f"{100000000000 + i % 7}"
    return doc


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
    )


def commit_tenants(repo: Path, count: int) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".lambda-build")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=ignore)
        else:
            shutil.copy2(source, repo / name)
    tenants = repo / "tenants"
    tenants.mkdir()
    for i in range(count):
        (tenants / f"team{i:03d}.yaml").write_text(yaml.safe_dump(spec(i), sort_keys=False))
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{count} tenants")


def build_repo(repo: Path) -> None:
    commit_tenants(repo, TENANTS)
    tenants = repo / "tenants"
    # the change under review: a few tenants edited, one added, one removed
    edits = {
        1: ("compute", "instance_types", ["m6i.xlarge"]),
        2: ("compute", "min_nodes", spec(2)["compute"]["min_nodes"] + 1),
        5: ("streaming", "mode", "on_demand"),
    }
    for i, (section, key, value) in edits.items():
        doc = spec(i)
        doc[section][key] = value
        if key == "min_nodes":
            doc["compute"]["max_nodes"] = max(doc["compute"]["max_nodes"], value)
        (tenants / f"team{i:03d}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (tenants / f"team{TENANTS:03d}.yaml").write_text(yaml.safe_dump(spec(TENANTS), sort_keys=False))
    (tenants / "team019.yaml").unlink()


def run(repo: Path, attempt: int) -> tuple[float, dict]:
    report = repo.parent / f"preview-{attempt}.json"
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tenantml.cli",
            "preview",
            "--base",
            "HEAD",
            "--format",
            "json",
            "--output",
            str(report),
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TENANTML_SYNTH_CACHE": str(repo.parent / f"cache-{attempt}")},
    )
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"preview failed (exit {proc.returncode}):\n{proc.stderr}")
    return wall, json.loads(report.read_text())


def thousand() -> bool:
    ok = True
    with tempfile.TemporaryDirectory(prefix="preview-bench-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        commit_tenants(repo, 1000)
        edited = repo / "tenants" / "team500.yaml"
        code = repo / "infra" / "storage.py"
        original_spec, original_code = edited.read_text(), code.read_text()
        print(f"{'change':>12} {'run':>3} {'synthesized':>11} {'not synth.':>10} {'wall s':>7} {'target':>6}")
        for label, target in (("1 spec", 30.0), ("code (all)", 180.0)):
            for attempt in (1, 2):
                if label == "1 spec":
                    doc = spec(500)
                    doc["compute"]["instance_types"] = ["m6i.xlarge"]
                    edited.write_text(yaml.safe_dump(doc, sort_keys=False))
                else:
                    code.write_text(original_code + "\n# reviewed\n")
                wall, report = run(repo, attempt + (0 if label == "1 spec" else 2))
                edited.write_text(original_spec)
                code.write_text(original_code)
                ok &= wall <= target
                print(
                    f"{label:>12} {attempt:>3} {len(report['tenants']):>11} {report['not_synthesized']:>10} "
                    f"{wall:>7.1f} {target:>6.0f}"
                )
    return ok


def main() -> int:
    if "--thousand" in sys.argv[1:]:
        ok = thousand()
        print("targets met" if ok else "TARGETS MISSED")
        return 0 if ok else 1
    with tempfile.TemporaryDirectory(prefix="preview-bench-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        build_repo(repo)
        ok = True
        print(
            f"{'run':>3} {'tenants':>7} {'changed':>7} {'new':>3} {'removed':>7} {'resources':>9} {'wall s':>7} {'target':>6}"
        )
        for attempt in (1, 2):
            wall, report = run(repo, attempt)
            statuses = [t["status"] for t in report["tenants"]]
            resources = sum(sum(t["counts"].values()) for t in report["tenants"])
            ok &= wall <= TARGET_SECONDS
            print(
                f"{attempt:>3} {len(statuses):>7} {statuses.count('changed'):>7} {statuses.count('new'):>3} "
                f"{statuses.count('removed'):>7} {resources:>9} {wall:>7.2f} {TARGET_SECONDS:>6.1f}"
            )
    print("target met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
