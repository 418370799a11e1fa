"""Deterministic content-hash ids from canonical JSON.

>>> canonical_json({"b": 1, "a": [1, "é"]})
'{"a":[1,"é"],"b":1}'
>>> content_id("q", {"a": 1}) == content_id("q", {"a": 1})
True
>>> content_id("q", {"a": 1}).startswith("q-")
True
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

HASH_ALGORITHM = "sha256"
ID_HEX_CHARS = 20


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys, no whitespace and raw unicode: the input to every hash."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_default)


def _default(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"not JSON-serialisable for hashing: {type(obj).__name__}")


def digest(obj: Any) -> str:
    """Full hex sha256 of the canonical JSON of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def content_id(prefix: str, obj: Any) -> str:
    """A short, prefixed content id such as ``q-3f2a...`` (80 bits of sha256)."""
    return f"{prefix}-{digest(obj)[:ID_HEX_CHARS]}"


def stable_int(*parts: Any, bits: int = 63) -> int:
    """A deterministic integer from ``parts`` (for seeding per-item RNGs)."""
    h = hashlib.sha256(canonical_json(list(parts)).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big") & ((1 << bits) - 1)


def shard_of(record_id: str, shards: int) -> int:
    """Stable shard index of a record id in ``range(shards)``."""
    return stable_int(record_id) % shards
