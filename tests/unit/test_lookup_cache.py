"""The serving lookup cache: bounded by size (least recently used goes first) and by time."""

from __future__ import annotations

from pipelines.serving.lookup_cache import ExpiringLru


def test_the_least_recently_used_entry_goes_when_the_cache_is_full() -> None:
    cache: ExpiringLru[str, int] = ExpiringLru(2)
    cache.put("a", 1, expires=100)
    cache.put("b", 2, expires=100)

    assert cache.get("a", now=0) == (True, 1)  # a is now the most recently used
    cache.put("c", 3, expires=100)

    assert cache.get("b", now=0) == (False, None)
    assert cache.get("a", now=0) == (True, 1) and cache.get("c", now=0) == (True, 3)
    assert len(cache) == 2


def test_an_entry_is_gone_at_its_expiry_time_and_none_is_a_cached_value() -> None:
    cache: ExpiringLru[str, int | None] = ExpiringLru(10)
    cache.put("missing", None, expires=10)

    assert cache.get("missing", now=9.9) == (True, None)
    assert cache.get("missing", now=10) == (False, None)
    assert len(cache) == 0


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache: ExpiringLru[str, int] = ExpiringLru(0)
    cache.put("a", 1, expires=100)

    assert cache.get("a", now=0) == (False, None)
