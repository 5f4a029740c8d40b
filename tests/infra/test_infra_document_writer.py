"""``synth_app`` writes each stack's document itself: the bytes must be those cdktf writes."""

from __future__ import annotations

from pathlib import Path

from infra_support import EXAMPLE_TENANTS

from core.platform import default_platform_file, load_platform, state_accounts
from core.spec import load_specs
from infra.core import synth_app
from stacks.app import build_app, build_bootstrap_app


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_given_the_example_tenants_when_synthesized_by_synth_app_then_every_file_is_what_cdktf_writes(
    tmp_path,
):
    # given: the example tenants (EC2, EKS and its Kubernetes stack) and their bootstrap stacks
    specs = load_specs(EXAMPLE_TENANTS)
    platform = load_platform(Path(default_platform_file(EXAMPLE_TENANTS)))
    accounts = state_accounts(specs, platform)

    # when: cdktf writes everything, and then synth_app writes the documents
    build_app(specs, tmp_path / "cdktf", platform).synth()
    build_bootstrap_app(accounts, tmp_path / "cdktf-bootstrap", platform).synth()
    synth_app(build_app(specs, tmp_path / "ours", platform), tmp_path / "ours")
    synth_app(
        build_bootstrap_app(accounts, tmp_path / "ours-bootstrap", platform), tmp_path / "ours-bootstrap"
    )

    # then: the same files with the same bytes, documents, manifest and assets alike
    expected, written = _files(tmp_path / "cdktf"), _files(tmp_path / "ours")
    assert sorted(written) == sorted(expected)
    assert [name for name in expected if written[name] != expected[name]] == []
    assert any(name.endswith("cdk.tf.json") for name in expected)
    assert _files(tmp_path / "ours-bootstrap") == _files(tmp_path / "cdktf-bootstrap")
