"""The generation cache behind ingest's in-memory copies (sources, routes, custom domains)."""

from __future__ import annotations

from gethook_lite.cache import GenerationCache


def test_a_value_read_before_a_change_is_not_kept():
    cache: GenerationCache[str, int] = GenerationCache()
    generation = cache.generation
    cache.forget("other")  # any change, committed while the value was being read
    cache.put("a", 1, generation)
    assert cache.get("a") is None and "a" not in cache
    cache.put("a", 2, cache.generation)
    assert cache.get("a") == 2 and len(cache) == 1


def test_forget_drops_one_key_or_all():
    cache: GenerationCache[str, int] = GenerationCache()
    for key, value in (("a", 1), ("b", 2)):
        cache.put(key, value, cache.generation)
    cache.forget("a")
    assert cache.get("a") is None and cache.get("b") == 2
    cache.forget()
    assert len(cache) == 0
