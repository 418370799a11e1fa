"""Checks over the ``judge serve-sim`` request log (one JSON object per line, see docs/SERVER.md).

>>> log = [{"hash": "a", "attempt": 0, "mono_ns": 0, "outcome": "429", "retry_after": 1.0},
...        {"hash": "a", "attempt": 1, "mono_ns": 400_000_000, "outcome": "ok", "delivered": True}]
>>> [v.gap_s for v in retry_after_violations(log)]
[0.4]
>>> duplicate_successes(log)
{}
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUCCESS = ("ok", "malformed")  # the server answered 200 with content


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """All entries of a request log, skipping a torn last line (server killed mid-write)."""
    entries = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def calls_by_hash(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Chat requests grouped by body hash, in arrival order (400/401 lines have no hash)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in sorted((e for e in entries if "hash" in e), key=lambda e: e["mono_ns"]):
        out[e["hash"]].append(e)
    return dict(out)


@dataclass(frozen=True)
class RetryViolation:
    """A retry that came sooner than the ``Retry-After`` the previous 429 asked for."""

    hash: str
    attempt: int
    gap_s: float
    retry_after_s: float


def retry_after_violations(entries: list[dict[str, Any]],
                           slack_s: float = 0.0) -> list[RetryViolation]:
    """Each request that followed a 429 for the same body after less than Retry-After.

    Gaps are measured between arrivals, so the injected latency of the 429 only adds to
    them. ``slack_s`` tolerates clock granularity.
    """
    out = []
    for h, calls in calls_by_hash(entries).items():
        for prev, nxt in zip(calls, calls[1:]):
            if prev["outcome"] != "429":
                continue
            gap = (nxt["mono_ns"] - prev["mono_ns"]) / 1e9
            if gap + slack_s < prev["retry_after"]:
                out.append(RetryViolation(h, nxt["attempt"], round(gap, 6), prev["retry_after"]))
    return out


def duplicate_successes(entries: list[dict[str, Any]]) -> dict[str, int]:
    """Body hashes answered successfully (and delivered) more than once, with their counts."""
    counts: dict[str, int] = defaultdict(int)
    for e in entries:
        if e.get("outcome") in SUCCESS and e.get("delivered", True) and "hash" in e:
            counts[e["hash"]] += 1
    return {h: n for h, n in counts.items() if n > 1}
