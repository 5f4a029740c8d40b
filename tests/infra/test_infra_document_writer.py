"""``synth_app`` writes each stack's document itself: the bytes must be those cdktf writes."""

from __future__ import annotations

import re
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

    # then: the same documents and manifest (cdktf alone writes no assets now: they are ours, see
    # test_infra_core_assets), and every asset a document names is in its stack's directory
    expected, written = _files(tmp_path / "cdktf"), _files(tmp_path / "ours")
    documents = [name for name in written if name.endswith("cdk.tf.json") or name == "manifest.json"]
    assert sorted(documents) == sorted(name for name in expected if not name.startswith(".lambda-build"))
    assert [name for name in documents if written[name] != expected[name]] == []
    assert any(name.endswith("cdk.tf.json") for name in documents)
    for name in documents:
        for asset in re.findall(r'"(assets/[^"]+)"', written[name].decode()):
            assert (tmp_path / "ours" / Path(name).parent / asset).is_file()
    assert _files(tmp_path / "ours-bootstrap") == _files(tmp_path / "cdktf-bootstrap")
