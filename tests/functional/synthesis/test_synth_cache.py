"""The synthesis cache and worker processes: unchanged tenants come from the cache, byte for byte what
a fresh synthesis writes; changed inputs miss; workers write what one process writes."""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

import pytest
import yaml

from core.errors import SynthesisError
from core.spec import load_specs
from tenantml import synthesis
from tenantml.synth_cache import SynthCache, code_fingerprint, default_cache_dir, spec_key
from tenantml.synthesis import synth

ROOT = Path(__file__).resolve().parents[3]


def _tenants(directory: Path, count: int) -> Path:
    template = yaml.safe_load((ROOT / "tenants" / "churn.yaml").read_text(encoding="utf-8"))
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        spec = {
            **template,
            "name": f"team{i}",
            "compute": {**template["compute"], "vpc_cidr": f"10.{i}.0.0/16"},
        }
        (directory / f"team{i}.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return directory


def _same_tree(left: Path, right: Path) -> bool:
    compared = filecmp.dircmp(left, right)
    if compared.left_only or compared.right_only or compared.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(left, right, compared.common_files, shallow=False)
    return not mismatch and not errors and all(_same_tree(left / d, right / d) for d in compared.common_dirs)


def test_given_a_warm_cache_then_unchanged_tenants_are_linked_from_it_and_match_a_fresh_synthesis(tmp_path):
    specs = load_specs(_tenants(tmp_path / "tenants", 2))
    cache = SynthCache(tmp_path / "cache")
    fresh = synth(specs, tmp_path / "fresh", cache=None)

    synth(specs, tmp_path / "warm", cache=cache)  # fills the cache
    hit = synth(specs, tmp_path / "hit", cache=cache)

    assert _same_tree(tmp_path / "fresh" / "stacks", tmp_path / "hit" / "stacks")
    assert [(r.stack, r.resource_count) for r in hit] == [(r.stack, r.resource_count) for r in fresh]
    # a hit is the cache entry's own file (a hard link), not a second synthesis
    key = spec_key(specs[0], synthesis.PlatformSpec(), code_fingerprint())
    entry = tmp_path / "cache" / key[:2] / key / "stacks" / "team0" / "cdk.tf.json"
    assert os.stat(entry).st_ino == os.stat(tmp_path / "hit" / "stacks" / "team0" / "cdk.tf.json").st_ino
    assert (tmp_path / "hit" / "manifest.json").read_text() == (
        tmp_path / "fresh" / "manifest.json"
    ).read_text()


def test_given_one_spec_changed_then_only_that_tenant_misses(tmp_path):
    tenants = _tenants(tmp_path / "tenants", 2)
    cache = SynthCache(tmp_path / "cache")
    synth(load_specs(tenants), tmp_path / "out", cache=cache)
    changed = yaml.safe_load((tenants / "team1.yaml").read_text())
    changed["streaming"]["shards"] = 3
    (tenants / "team1.yaml").write_text(yaml.safe_dump(changed))
    before = {p.parent.name for p in (tmp_path / "cache").glob("*/*/entry.json")}

    results = synth(load_specs(tenants), tmp_path / "out", cache=cache)

    after = {p.parent.name for p in (tmp_path / "cache").glob("*/*/entry.json")}
    assert len(after - before) == 1  # one new entry: team1's
    stack = (tmp_path / "out" / "stacks" / "team1" / "cdk.tf.json").read_text()
    assert '"shard_count": 3' in stack
    assert {r.tenant for r in results} == {"team0", "team1"}


def test_the_key_ignores_yaml_formatting_and_follows_the_code(tmp_path):
    tenants = _tenants(tmp_path / "tenants", 1)
    (spec,) = load_specs(tenants)
    text = (tenants / "team0.yaml").read_text()
    (tenants / "team0.yaml").write_text("# reviewed by the platform team\n" + text.replace(": ", ":   "))
    (reformatted,) = load_specs(tenants)
    platform = synthesis.PlatformSpec()
    assert spec_key(spec, platform, "code-a") == spec_key(reformatted, platform, "code-a")
    assert spec_key(spec, platform, "code-a") != spec_key(spec, platform, "code-b")

    code = tmp_path / "code"
    for part in ("core", "infra", "stacks", "lambdas", "pipelines", "tenantml"):
        (code / part).mkdir(parents=True)
    (code / "tenantml" / "synthesis.py").write_text("x = 1\n")
    (code / "infra" / "storage.py").write_text("BUCKETS = 3\n")
    first = code_fingerprint.__wrapped__(code)
    (code / "infra" / "storage.py").write_text("BUCKETS = 4\n")
    assert code_fingerprint.__wrapped__(code) != first


def test_a_partial_entry_is_a_miss_and_prune_keeps_the_most_recent(tmp_path):
    specs = load_specs(_tenants(tmp_path / "tenants", 1))
    cache = SynthCache(tmp_path / "cache", max_entries=1)
    synth(specs, tmp_path / "out", cache=cache)
    (meta,) = (tmp_path / "cache").glob("*/*/entry.json")
    meta.unlink()  # as if a crash had left the stack files without their entry record
    assert cache.get(meta.parent.name, tmp_path / "probe") is None

    results = synth(specs, tmp_path / "out", cache=cache)  # synthesizes again, and stores again
    assert results and meta.exists()
    old = tmp_path / "cache" / "zz" / ("zz" + "0" * 62)
    shutil.copytree(meta.parent, old)
    os.utime(old / "entry.json", (1, 1))
    assert cache.prune() == 1 and not old.exists() and meta.exists()


def test_the_cache_directory_follows_the_environment(tmp_path):
    assert default_cache_dir({"TENANTML_SYNTH_CACHE": "off"}) is None
    assert default_cache_dir({"TENANTML_SYNTH_CACHE": str(tmp_path)}) == tmp_path
    assert default_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "tenantml" / "synth"


def test_worker_processes_write_what_one_process_writes(tmp_path, monkeypatch):
    specs = load_specs(_tenants(tmp_path / "tenants", 3))
    one = synth(specs, tmp_path / "one", cache=None, workers=1)
    monkeypatch.setattr(synthesis, "PARALLEL_MIN_TENANTS", 2)

    many = synth(specs, tmp_path / "many", cache=None, workers=2)

    assert [(r.stack, r.resource_count) for r in many] == [(r.stack, r.resource_count) for r in one]
    assert _same_tree(tmp_path / "one" / "stacks", tmp_path / "many" / "stacks")
    assert (tmp_path / "one" / "manifest.json").read_text() == (
        tmp_path / "many" / "manifest.json"
    ).read_text()


def test_a_failing_worker_names_its_error_and_publishes_nothing(tmp_path, monkeypatch):
    specs = load_specs(_tenants(tmp_path / "tenants", 2))
    out = tmp_path / "out"
    synth(specs[:1], out, cache=None)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    monkeypatch.setattr(synthesis, "PARALLEL_MIN_TENANTS", 2)
    # a worker that cannot start its CDK runtime: the library it is told to use does not exist
    monkeypatch.setenv("TENANTML_CDK", "no-such-cdk")

    with pytest.raises(SynthesisError, match="synthesis worker failed"):
        synth(specs, out, cache=None, workers=2)

    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_given_published_output_from_the_cache_when_nothing_changed_then_the_directories_stay_in_place(
    tmp_path,
):
    # given: two tenants synthesized into one output, then one of them changed
    tenants = _tenants(tmp_path / "tenants", 2)
    cache = SynthCache(tmp_path / "cache")
    synth(load_specs(tenants), tmp_path / "out", cache=cache)
    stacks = tmp_path / "out" / "stacks"
    before = {name: os.stat(stacks / name).st_ino for name in ("team0", "team1")}
    changed = yaml.safe_load((tenants / "team1.yaml").read_text())
    changed["streaming"]["shards"] = 3
    (tenants / "team1.yaml").write_text(yaml.safe_dump(changed))

    # when
    results = synth(load_specs(tenants), tmp_path / "out", cache=cache)

    # then: the unchanged tenant's directory is the same one (not removed and put back), the changed
    # one is new, and both are what a fresh synthesis writes
    assert os.stat(stacks / "team0").st_ino == before["team0"]
    assert os.stat(stacks / "team1").st_ino != before["team1"]
    fresh = synth(load_specs(tenants), tmp_path / "fresh", cache=None)
    assert _same_tree(tmp_path / "fresh" / "stacks", stacks)
    assert [(r.stack, r.resource_count, r.path) for r in results] == [
        (r.stack, r.resource_count, stacks / r.stack / "cdk.tf.json") for r in fresh
    ]
    assert (tmp_path / "out" / "manifest.json").read_text() == (
        tmp_path / "fresh" / "manifest.json"
    ).read_text()


def test_given_published_output_that_is_not_the_cache_entry_when_synthesized_then_it_is_replaced(tmp_path):
    # given: a tenant's published document replaced by another file, and a stray Kubernetes stack
    tenants = _tenants(tmp_path / "tenants", 1)
    cache = SynthCache(tmp_path / "cache")
    synth(load_specs(tenants), tmp_path / "out", cache=cache)
    document = tmp_path / "out" / "stacks" / "team0" / "cdk.tf.json"
    text = document.read_text()
    document.unlink()
    document.write_text("{}")
    stray = tmp_path / "out" / "stacks" / "team0-kubernetes"
    stray.mkdir()

    # when
    synth(load_specs(tenants), tmp_path / "out", cache=cache)

    # then: the entry's document is published again, and the stack the tenant does not have is gone
    assert document.read_text() == text
    assert not stray.exists()
