"""The bootstrap stacks come from the synthesis cache when nothing they are built from changed.

`tenantml up` synthesizes them on every start; with every tenant cached as well, that was the only
reason to start the CDK's Node process. A cached stack is a hard link to the cache entry's file,
so the same inode in two outputs proves the second was not synthesized again.
"""

from __future__ import annotations

import json
import os

from core.platform import PlatformSpec, StateSettings
from tenantml.synth_cache import SynthCache
from tenantml.synthesis import synth_bootstrap


def test_given_a_bootstrap_synthesized_once_when_synthesized_again_then_it_comes_from_the_cache_unchanged(
    example_specs, tmp_path
):
    # given
    cache = SynthCache(tmp_path / "cache")
    first = synth_bootstrap(example_specs, tmp_path / "first", PlatformSpec(), cache=cache)

    # when
    second = synth_bootstrap(example_specs, tmp_path / "second", PlatformSpec(), cache=cache)

    # then: the same stacks, the same documents (the very files of the cache entry) and manifest
    assert [(r.account_id, r.stack, r.bucket) for r in second] == [
        (r.account_id, r.stack, r.bucket) for r in first
    ]
    for before, after in zip(first, second, strict=True):
        assert os.path.samefile(before.path, after.path)
    manifests = [
        json.loads((tmp_path / d / "bootstrap" / "manifest.json").read_text()) for d in ("first", "second")
    ]
    assert manifests[0] == manifests[1]
    assert sorted(manifests[1]["stacks"]) == sorted(r.stack for r in second)


def test_given_another_state_region_when_the_bootstrap_is_synthesized_then_it_is_built_again_for_it(
    example_specs, tmp_path
):
    # given: the bootstrap cached for the default state region
    cache = SynthCache(tmp_path / "cache")
    first = synth_bootstrap(example_specs, tmp_path / "first", PlatformSpec(), cache=cache)

    # when: the platform keeps its state in another region
    platform = PlatformSpec(state=StateSettings(region="eu-central-1"))
    second = synth_bootstrap(example_specs, tmp_path / "second", platform, cache=cache)

    # then: freshly synthesized documents naming that region, not the cached ones
    for before, after in zip(first, second, strict=True):
        assert not os.path.samefile(before.path, after.path)
        assert after.bucket.endswith("-eu-central-1")
        assert after.bucket in after.path.read_text()
