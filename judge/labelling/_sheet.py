"""Blind, shuffled labelling sheets: pure functions (no I/O).

Raters see only :class:`SheetRow` fields. Rows are ordered by a jittered systematic
interleave: each stratum's items are spread evenly over the copy, so a rater never works
through one group or one judge-score band at a time. Every rater gets an independently
shuffled copy (its own seed, derived from the sheet seed and the rater's name).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from judge.ids import content_id, stable_int
from judge.labelling._model import CriterionSpec, KeyRow, SheetRow

ERR_OVERLAP = "overlap must be between 0 and 1, got {!r}"
ERR_PER_ITEM = "raters_per_overlap_item must be between 2 and the number of raters ({}), got {!r}"


@dataclass
class LabelItem:
    """One item to label, with what only the key may hold (stratum, weight, groups)."""

    item_id: str
    query: str
    response: str
    criteria: Sequence[CriterionSpec]
    rubric_id: str = ""
    rubric_version: str | None = None
    instructions: str = ""
    stratum: str = ""
    inclusion_prob: float | None = None
    cluster: str | None = None
    groups: dict[str, str] = field(default_factory=dict)


@dataclass
class Sheets:
    """Each rater's copy (rows in display order) and the key."""

    copies: dict[str, list[SheetRow]]
    key: list[KeyRow]


def row_id_for(item_id: str, rubric_id: str, seed: int) -> str:
    """An opaque row id (a salted hash: it does not reveal the item id or its order)."""
    return content_id("row", [item_id, rubric_id, seed])


def interleave(strata: Sequence[str], seed: int) -> list[int]:
    """Indices of ``strata`` in an order that spreads each stratum evenly (jittered
    systematic interleave), shuffled within strata.

    >>> order = interleave(["a"] * 4 + ["b"] * 4, seed=1)
    >>> sorted(order) == list(range(8))
    True
    """
    rng = np.random.default_rng(seed)
    keys = np.empty(len(strata))
    by: dict[str, list[int]] = {}
    for i, s in enumerate(strata):
        by.setdefault(s, []).append(i)
    for s in sorted(by):
        idx = np.array(by[s])
        rng.shuffle(idx)
        n = len(idx)
        keys[idx] = (np.arange(n) + rng.random(n)) / n
    tiebreak = rng.random(len(strata))
    return [int(i) for i in np.lexsort((tiebreak, keys))]


def assign_raters(n_items: int, raters: Sequence[str], overlap: float, per_item: int,
                  seed: int) -> list[tuple[str, ...]]:
    """Which raters label each item: an ``overlap`` share of items (rounded) goes to
    ``per_item`` raters, the rest to one; loads stay balanced (ties broken at random)."""
    if not 0 <= overlap <= 1:
        raise ValueError(ERR_OVERLAP.format(overlap))
    r = len(raters)
    if r == 0:
        raise ValueError("at least one rater is needed")
    if overlap > 0 and r > 1 and not 2 <= per_item <= r:
        raise ValueError(ERR_PER_ITEM.format(r, per_item))
    rng = np.random.default_rng(stable_int("assign", seed))
    order = rng.permutation(n_items)
    k = int(round(overlap * n_items)) if r > 1 else 0
    load = np.zeros(r)
    out: list[tuple[str, ...]] = [()] * n_items
    for rank, i in enumerate(order):
        m = per_item if rank < k else 1
        pick = np.lexsort((rng.random(r), load))[:m]
        load[pick] += 1
        out[int(i)] = tuple(raters[j] for j in sorted(pick))
    return out


def build_sheets(items: Sequence[LabelItem], raters: Sequence[str], *, seed: int,
                 overlap: float = 0.0, per_item: int = 2) -> Sheets:
    """Blind copies for ``raters`` and the key, reproducible from ``seed``."""
    if len(set(raters)) != len(raters):
        raise ValueError(f"rater names must be unique, got {list(raters)}")
    seen: set[tuple[str, str]] = set()
    for it in items:
        if (it.item_id, it.rubric_id) in seen:
            raise ValueError(f"item {it.item_id!r} ({it.rubric_id}) appears twice")
        seen.add((it.item_id, it.rubric_id))
    who = assign_raters(len(items), raters, overlap, per_item, seed)
    ids = [row_id_for(it.item_id, it.rubric_id, seed) for it in items]
    key = [KeyRow(row_id=rid, item_id=it.item_id, rubric_id=it.rubric_id or None,
                  rubric_version=it.rubric_version, criteria=tuple(c.id for c in it.criteria),
                  stratum=it.stratum, inclusion_prob=it.inclusion_prob,
                  weight=(1.0 / it.inclusion_prob) if it.inclusion_prob else None,
                  cluster=it.cluster, groups=dict(it.groups), raters=who[i])
           for i, (rid, it) in enumerate(zip(ids, items))]
    copies: dict[str, list[SheetRow]] = {}
    for name in raters:
        mine = [i for i in range(len(items)) if name in who[i]]
        order = interleave([items[i].stratum for i in mine], stable_int("order", seed, name))
        copies[name] = [SheetRow(row_id=ids[mine[j]], position=pos, rater=name,
                                 rubric=items[mine[j]].rubric_id,
                                 instructions=items[mine[j]].instructions,
                                 criteria=tuple(items[mine[j]].criteria),
                                 query=items[mine[j]].query, response=items[mine[j]].response)
                        for pos, j in enumerate(order, 1)]
    return Sheets(copies=copies, key=sorted(key, key=lambda k: k.row_id))


def max_run_length(strata: Sequence[str]) -> int:
    """Longest run of consecutive rows from one stratum (a check on the interleave)."""
    best = run = 0
    prev = None
    for s in strata:
        run = run + 1 if s == prev else 1
        best, prev = max(best, run), s
    return best
