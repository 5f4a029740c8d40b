"""Synthesize tenant stacks without partial output, and only the tenants whose inputs changed.

Everything is built in a scratch directory next to the output and moved into place only
when every stack synthesized: a failure leaves the previous output untouched. A tenant whose
spec, platform settings, code and libraries are unchanged is taken from the synthesis cache
(:mod:`tenantml.synth_cache`); the rest share one process and jsii/Node runtime when few, and
are split across worker processes, one per core, when many (:mod:`tenantml.synth_workers`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.errors import TenantSpecError
from core.platform import PLATFORM_ERROR, PlatformSpec, state_accounts, state_bucket_name, state_problems
from core.spec import TenantSpec
from core.stack_names import bootstrap_stack_name, kubernetes_stack_name
from tenantml.synth_cache import CachedStack, SynthCache, code_fingerprint, default_cache_dir, spec_key
from tenantml.synth_workers import PARALLEL_MIN_TENANTS, collect_stacks, run_workers

#: the bootstrap stacks go beside the tenant stacks, in their own cdktf output, so that nothing
#: that walks ``<out>/stacks`` (apply, destroy, preview, ``cdktf deploy``) takes them for tenants
BOOTSTRAP_DIR = "bootstrap"


@dataclass(frozen=True)
class SynthResult:
    tenant: str
    path: Path
    resource_count: int

    @property
    def stack(self) -> str:
        """The stack's name: the tenant's, or ``<tenant>-kubernetes`` for its Kubernetes stack."""
        return self.path.parent.name


@dataclass(frozen=True)
class BootstrapResult:
    account_id: str
    stack: str
    bucket: str
    region: str
    path: Path


def synth(
    specs: Sequence[TenantSpec],
    outdir: Path,
    platform: PlatformSpec | None = None,
    *,
    cache: SynthCache | None | Literal["default"] = "default",
    workers: int | None = None,
) -> list[SynthResult]:
    """Synthesize ``specs`` into ``outdir/stacks/<stack>/`` (each tenant's stack, then its Kubernetes
    stack if it serves on EKS); other tenants' output is kept.

    A tenant whose inputs are unchanged comes from ``cache`` (default: :func:`default_cache_dir`);
    the others are synthesized, in ``workers`` processes (default: one per core) when there are
    at least :data:`PARALLEL_MIN_TENANTS`, else in this one.
    """
    platform = platform or PlatformSpec()
    problems = state_problems(specs, platform)
    if problems:  # before any cache lookup: a cached stack must not hide a spec the platform refuses
        raise TenantSpecError(problems, headline=PLATFORM_ERROR)
    if cache == "default":
        root = default_cache_dir()
        cache = SynthCache(root) if root is not None else None
    # the scratch directory sits inside outdir so that publishing is a rename on one filesystem
    # (outdir may be a mount); a directory this run created goes again when the synth fails
    created = not outdir.exists()
    outdir.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix=".synth-", dir=outdir) as scratch:
            built = Path(scratch)
            stacks: dict[str, list[CachedStack]] = {}
            keys: dict[str, str] = {}
            #: tenants whose published output already is their cache entry: nothing to move
            in_place: set[str] = set()
            misses = list(specs)
            if cache is not None:
                fingerprint = code_fingerprint()
                keys = {spec.name: spec_key(spec, platform, fingerprint) for spec in specs}
                misses = []
                for spec in specs:
                    found = _published(cache, keys[spec.name], spec, outdir)
                    if found is not None:
                        stacks[spec.name] = found
                        in_place.add(spec.name)
                        continue
                    found = cache.get(keys[spec.name], built)
                    if found is None:
                        misses.append(spec)
                    else:
                        stacks[spec.name] = found
            if misses:
                fresh = _build(misses, built / "fresh", platform, workers)
                (built / "stacks").mkdir(exist_ok=True)
                for spec in misses:
                    stacks[spec.name] = fresh[spec.name]
                    for stack in fresh[spec.name]:
                        os.replace(built / "fresh" / "stacks" / stack.name, built / "stacks" / stack.name)
                    if cache is not None:
                        cache.put(keys[spec.name], built, fresh[spec.name])
            _write_manifest(built / "manifest.json", [s for found in stacks.values() for s in found])
            results = _publish(specs, built, outdir, stacks, in_place)
        if cache is not None and misses:
            cache.prune()
        return results
    except BaseException:
        if created:
            shutil.rmtree(outdir, ignore_errors=True)
        raise


def _build(
    specs: Sequence[TenantSpec], outdir: Path, platform: PlatformSpec, workers: int | None
) -> dict[str, list[CachedStack]]:
    """Synthesize ``specs`` into ``outdir``; each tenant's stacks, counted and with their manifest entries."""
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers <= 1 or len(specs) < PARALLEL_MIN_TENANTS:
        from stacks.app import synth_into  # imports the CDK: only when there is something to build

        synth_into(specs, outdir, platform)
        return collect_stacks(specs, outdir)
    return run_workers(specs, outdir, platform, workers)


def _write_manifest(path: Path, stacks: list[CachedStack]) -> None:
    version = next((s.manifest_version for s in stacks if s.manifest_version), "")
    manifest = {"version": version, "stacks": {s.name: dict(s.manifest) for s in stacks}}
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _bootstrap_key(accounts: Sequence[str], platform: PlatformSpec) -> str:
    """The cache key of the bootstrap stacks: never a tenant's (a different first element)."""
    payload = json.dumps(
        ["bootstrap", code_fingerprint(), sorted(accounts), platform.model_dump(mode="json")], sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _bootstrap_stacks(built: Path, accounts: Sequence[str]) -> list[CachedStack]:
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    stacks = []
    for account in accounts:
        name = bootstrap_stack_name(account)
        document = json.loads((built / "stacks" / name / "cdk.tf.json").read_text(encoding="utf-8"))
        count = sum(len(v) for v in document.get("resource", {}).values())
        stacks.append(CachedStack(name, count, manifest["stacks"][name], str(manifest.get("version", ""))))
    return stacks


def synth_bootstrap(
    specs: Sequence[TenantSpec],
    outdir: Path,
    platform: PlatformSpec,
    *,
    cache: SynthCache | None | Literal["default"] = "default",
) -> list[BootstrapResult]:
    """One bootstrap stack per account the specs deploy into, in ``outdir/bootstrap/stacks/``.

    The directory is replaced as a whole once every stack synthesized (an account no tenant
    names any more loses its stack here, never its bucket: that takes a deliberate destroy).
    The stacks come from ``cache`` (default: :func:`default_cache_dir`) when the accounts, the
    platform settings and the code are unchanged: then the CDK is not even imported (its Node
    process took most of ``up``'s synthesis stage when every tenant came from the cache).
    """
    accounts = state_accounts(specs, platform)  # raises naming a tenant without an account
    if cache == "default":
        root = default_cache_dir()
        cache = SynthCache(root) if root is not None else None
    key = _bootstrap_key(accounts, platform) if cache is not None else ""
    outdir.mkdir(parents=True, exist_ok=True)
    target = outdir / BOOTSTRAP_DIR
    with tempfile.TemporaryDirectory(prefix=".bootstrap-", dir=outdir) as scratch:
        built = Path(scratch) / BOOTSTRAP_DIR
        cached = cache.get(key, built) if cache is not None else None
        if cached is not None:
            _write_manifest(built / "manifest.json", cached)
        else:
            from infra.core import synth_app
            from stacks.app import build_bootstrap_app  # imports the CDK

            synth_app(build_bootstrap_app(accounts, built, platform), built)
            if cache is not None:
                cache.put(key, built, _bootstrap_stacks(built, accounts))
        if target.exists():
            shutil.rmtree(target)
        os.replace(built, target)
    region = platform.state.region
    return [
        BootstrapResult(
            account_id=account,
            stack=bootstrap_stack_name(account),
            bucket=state_bucket_name(account, region),
            region=region,
            path=target / "stacks" / bootstrap_stack_name(account) / "cdk.tf.json",
        )
        for account in accounts
    ]


def _published(cache: SynthCache, key: str, spec: TenantSpec, outdir: Path) -> list[CachedStack] | None:
    """The tenant's stacks when ``outdir`` already holds exactly its cache entry's (linked from it),
    else None. Removing a published directory to put the same files back costs a few
    milliseconds per directory on some file systems: a thousand unchanged tenants took seconds."""
    found = cache.published(key, outdir / "stacks")
    if found is None:
        return None
    names = {s.name for s in found}
    others = [s for s in (spec.name, kubernetes_stack_name(spec.name)) if s not in names]
    return None if any((outdir / "stacks" / s).exists() for s in others) else found


def _publish(
    specs: Sequence[TenantSpec],
    built: Path,
    outdir: Path,
    stacks: Mapping[str, list[CachedStack]],
    in_place: set[str],
) -> list[SynthResult]:
    results = []
    gone: list[str] = []
    for spec in specs:
        present = {s.name: s for s in stacks[spec.name]}
        for stack in (spec.name, kubernetes_stack_name(spec.name)):
            target = outdir / "stacks" / stack
            if spec.name in in_place:
                if stack in present:
                    results.append(
                        SynthResult(spec.name, target / "cdk.tf.json", present[stack].resource_count)
                    )
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            if stack not in present:
                gone.append(stack)  # a tenant that stopped serving on EKS has no Kubernetes stack
                continue
            os.replace(built / "stacks" / stack, target)
            results.append(SynthResult(spec.name, target / "cdk.tf.json", present[stack].resource_count))
    _merge_manifest(built / "manifest.json", outdir / "manifest.json", gone)
    return results


def _merge_manifest(new: Path, existing: Path, gone: list[str]) -> None:
    """Keep ``manifest.json`` listing every stack present, as ``cdktf deploy`` reads it."""
    merged = json.loads(new.read_text())
    stacks: dict[str, object] = (
        json.loads(existing.read_text()).get("stacks", {}) if existing.exists() else {}
    )
    for stack in gone:
        stacks.pop(stack, None)
    stacks.update(merged.get("stacks", {}))
    merged["stacks"] = dict(sorted(stacks.items()))
    tmp = existing.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(merged, indent=2))
    os.replace(tmp, existing)


def main() -> None:
    """``python -m tenantml.synthesis``: what ``python -m stacks.app`` does (the same environment:
    ``CDKTF_OUTDIR``, ``TENANTML_TENANTS_DIR``, ``TENANTML_PLATFORM_FILE``), through the cache and
    the worker processes. ``tenantml preview`` runs it in the base ref's checkout when that has it."""
    from core.platform import default_platform_file, load_platform
    from core.spec import load_specs

    outdir = Path(os.environ.get("CDKTF_OUTDIR", "cdktf.out"))
    tenants_dir = Path(os.environ.get("TENANTML_TENANTS_DIR", "tenants"))
    platform_file = Path(os.environ.get("TENANTML_PLATFORM_FILE", default_platform_file(tenants_dir)))
    synth(load_specs(tenants_dir), outdir, load_platform(platform_file))


if __name__ == "__main__":
    main()
