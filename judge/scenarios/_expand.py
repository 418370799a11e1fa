"""Stream queries from scenario files (and/or an imported JSONL) under a design."""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from judge.config import DesignSpec, QueriesConfig, resolve_path
from judge.errors import DataError
from judge.ids import ID_HEX_CHARS, canonical_json, stable_int
from judge.records import SCHEMA_VERSION, Query
from judge.scenarios._attributes import Library, load_library
from judge.scenarios._design import SwapUnit, decode, fill_order, sampled_fills, swap_units
from judge.scenarios._model import Scenario, Template, compile_scenario
from judge.scenarios._render import surface

Group = list[Query]
_FIELDS = frozenset(Query.model_fields)


def _trusted_query(fields: dict[str, Any]) -> Query:
    """Build a Query from values this module produced itself, skipping validation.

    Same result as ``Query.model_construct`` (every field given), at a third of the cost;
    tests check it equals the validated record.
    """
    q = object.__new__(Query)
    object.__setattr__(q, "__dict__", fields)
    object.__setattr__(q, "__pydantic_fields_set__", set(_FIELDS))
    object.__setattr__(q, "__pydantic_extra__", None)
    object.__setattr__(q, "__pydantic_private__", None)
    return q


def scenario_paths(patterns: Iterable[str]) -> list[Path]:
    """Scenario files named by paths or globs (resolved like every config path), in order."""
    out: list[Path] = []
    for pat in patterns:
        if any(ch in pat for ch in "*?["):
            base = resolve_path(Path(pat).parent) if Path(pat).parent != Path(".") else None
            full = str(base / Path(pat).name) if base else pat
            hits = sorted(Path(p) for p in glob.glob(full))
            if not hits:
                raise DataError("glob matches no scenario file", path=pat,
                                hint="check queries.scenarios in the config")
            out += [h for h in hits if h not in out]
        else:
            p = resolve_path(pat)
            if not p.exists():
                raise DataError("scenario file not found", path=pat)
            if p not in out:
                out.append(p)
    return out


def load_scenarios(patterns: Iterable[str], lib: Library | None = None) -> list[Scenario]:
    """Compile every scenario file (fails fast on the first bad one)."""
    lib = lib or load_library()
    return [compile_scenario(p, lib) for p in scenario_paths(patterns)]


@dataclass(frozen=True)
class _Member:
    attrs: dict[str, str]
    expression: dict[str, str]
    surface: dict[str, str]
    tail: str


class _Expander:
    """Expands one template of one scenario under one design, group by group."""

    def __init__(self, sc: Scenario, tpl: Template, design: DesignSpec,
                 axes: list[str] | None, seed: int, lib: Library):
        self.sc, self.tpl, self.design, self.lib, self.seed = sc, tpl, design, lib, seed
        self.salt = f"{sc.id}@{sc.version}/{tpl.id}"
        selected = [a for a in sc.axes if axes is None or a in axes]
        fixed = {a: sc.reference[a] for a in sc.axes if a not in selected}
        self.units: list[SwapUnit] = (
            swap_units(design, selected, sc.axes, fixed, stable_int(seed, self.salt, "cells"))
            if selected else [])
        self.slots = tpl.fill_slots
        self.radices = [len(sc.fillers[s]) for s in self.slots]
        self.n_fills = 1
        for r in self.radices:
            self.n_fills *= r
        self._members: dict[Any, _Member] = {}
        self._pools: dict[Any, list[str]] = {}
        self.by_name = tpl.expression.get("race") == "name"

    def fill_indices(self, budget: int | None) -> Iterator[int]:
        if self.design.kind == "sampled" and budget is not None:
            per_fill = sum(len(u.cells) for u in self.units) or 1
            yield from sampled_fills(self.n_fills, max(1, budget // per_fill), self.seed,
                                     self.salt)
        else:
            yield from fill_order(self.n_fills, self.seed, self.salt)

    def groups(self, budget: int | None = None) -> Iterator[Group]:
        if not self.units:
            return
        for idx in self.fill_indices(budget):
            digits = decode(idx, self.radices)
            chosen = [self.sc.fillers[s][d] for s, d in zip(self.slots, digits, strict=True)]
            fills = {s: f.text for s, f in zip(self.slots, chosen, strict=True)}
            truth: dict[str, Any] = {}
            for f in chosen:
                truth.update(f.ground_truth)
            for unit in self.units:
                yield self._group(fills, truth, unit)

    def _pool(self, cell_attrs: tuple[tuple[str, str], ...]) -> list[str]:
        pool = self._pools.get(cell_attrs)
        if pool is None:
            a = dict(cell_attrs)
            pool = self._pools[cell_attrs] = self.lib.name_pool(
                self.sc.names, a["race"], a["gender"], first_only=self.tpl.first_only)
        return pool

    def _names(self, attrs: tuple[tuple[str, str], ...], salt: int) -> list[str | None]:
        if not self.by_name:
            return [None]
        pool = self._pool(attrs)
        return list(pool) if self.design.kind == "full_factorial" else [pool[salt % len(pool)]]

    def _member(self, unit: SwapUnit, cell: tuple[tuple[str, str], ...],
                name: str | None) -> _Member:
        """Everything about one group member that does not depend on the fills (cached)."""
        skey = (unit.fixed, cell, name)
        m = self._members.get(skey)
        if m is None:
            attrs = dict(sorted(unit.fixed + cell))
            m = self._members[skey] = _Member(
                attrs=attrs, expression={a: self.tpl.expression[a] for a in attrs},
                surface=surface(self.tpl, attrs, name, self.lib),
                tail=f",{canonical_json(attrs)},{canonical_json([unit.key, name])}]")
        return m

    def _group(self, fills: dict[str, str], truth: dict[str, Any], unit: SwapUnit) -> Group:
        sc, tpl = self.sc, self.tpl
        cf = Query.make_cf_group(sc.id, sc.version, tpl.id, fills, unit.key)
        salt = int(cf[-8:], 16)
        # Query.make_id hashes canonical_json([sid, version, tid, fills, attrs, extra]); the
        # first four are shared by the whole group, so their JSON is built once.
        head = canonical_json([sc.id, sc.version, tpl.id, fills])[:-1]
        out: Group = []
        for cell in unit.cells:
            for name in self._names(tuple(sorted(unit.fixed + cell)), salt):
                m = self._member(unit, cell, name)
                digest = hashlib.sha256((head + m.tail).encode("utf-8")).hexdigest()
                out.append(_trusted_query({
                    "schema_version": SCHEMA_VERSION,
                    "query_id": f"q-{digest[:ID_HEX_CHARS]}",
                    "cf_group": cf, "scenario_id": sc.id, "scenario_version": sc.version,
                    "context": sc.context, "template_id": tpl.id,
                    "text": tpl.text.format_map({**fills, **m.surface}), "system": tpl.system,
                    "attributes": dict(m.attrs), "expression": dict(m.expression),
                    "swapped": list(unit.swapped), "fills": fills,
                    "ground_truth": dict(truth), "source": "scenario",
                    "meta": {"design": self.design.kind}}))
        return out


def _round_robin(streams: list[Iterator[Group]]) -> Iterator[Group]:
    """One group from each stream in turn, so ``limit`` samples every scenario."""
    live = list(streams)
    while live:
        nxt = []
        for s in live:
            g = next(s, None)
            if g is not None:
                yield g
                nxt.append(s)
        live = nxt


def expanders(cfg: QueriesConfig, *, seed: int = 0,
              lib: Library | None = None) -> list[_Expander]:
    """One expander per (scenario, template) of the config's scenario files."""
    lib = lib or load_library()
    return [_Expander(sc, tpl, cfg.design, cfg.axes, seed, lib)
            for sc in load_scenarios(cfg.scenarios, lib) for tpl in sc.templates]


def iter_groups(cfg: QueriesConfig, *, seed: int = 0) -> Iterator[Group]:
    """Counterfactual groups of scenario queries, round-robin over scenarios and templates."""
    exps = expanders(cfg, seed=seed)
    budget = cfg.design.budget_queries
    share = None if budget is None else max(1, budget // max(1, len(exps)))
    return _round_robin([e.groups(share) for e in exps])


def read_queries(path: str | Path) -> Iterator[Query]:
    """Stream Query records from a JSONL file (as written by ``judge datasets import``)."""
    p = resolve_path(path)
    if not p.exists():
        raise DataError("queries file not found", path=p, hint="run `judge datasets import`")
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield Query.model_validate_json(line)
            except ValidationError as err:
                e = err.errors()[0]
                loc = ".".join(str(x) for x in e["loc"]) or None
                raise DataError(e["msg"], path=p, line=lineno, field=loc) from err


def iter_queries(cfg: QueriesConfig, *, seed: int = 0) -> Iterator[Query]:
    """Stream the queries of a run: scenario files under ``cfg.design``, then ``cfg.path``.

    ``cfg.limit`` keeps the first N counterfactual groups (counted over both sources);
    ``cfg.axes`` restricts the swapped axes of scenario files (others are held at their
    reference level; a template expressing none of the axes is skipped).
    """
    left = cfg.limit
    for group in iter_groups(cfg, seed=seed):
        if left is not None and left <= 0:
            return
        yield from group
        left = None if left is None else left - 1
    if cfg.path is None:
        return
    kept: set[str] = set()
    for q in read_queries(cfg.path):
        if q.cf_group not in kept:
            if left is not None and len(kept) >= left:
                continue
            kept.add(q.cf_group)
        yield q
