"""Shard planning (driver side) and the shard task body (worker side), without Ray.

See :mod:`judge.executors.ray` for how these are scheduled, and docs/SCALE.md.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judge.config import ModelSpec, RunConfig, resolve_path
from judge.context import RunContext
from judge.ids import shard_of
from judge.records import CallError, Record
from judge.store import RunStore, iter_jsonl, scan_ids

# stage -> (input file, output file, output id field)
STAGE_IO = {"generate": ("queries", "generations", "generation_id"),
            "score": ("generations", "judgments", "judgment_id")}


def stage_models(cfg: RunConfig, stage: str) -> list[ModelSpec]:
    """The models ``stage`` calls: the generators for ``generate``, else the judges."""
    return list(cfg.generators) if stage == "generate" else list(cfg.judges)


def task_config(cfg: RunConfig, limit: Callable[[ModelSpec], dict[str, Any]]) -> RunConfig:
    """``cfg`` as a task in another process sees it: absolute paths (sim profile, cache
    dir), and each model spec updated with ``limit(spec)`` (its share of the caps)."""
    cache = cfg.cache.model_copy(update={"dir": str(resolve_path(cfg.cache.dir))})
    return cfg.model_copy(update={
        "sim_profile": cfg.sim_profile_path, "cache": cache,
        "generators": [g.model_copy(update=limit(g)) for g in cfg.generators],
        "judges": [j.model_copy(update=limit(j)) for j in cfg.judges]})


# ---------------------------------------------------------------- routing (driver side)

def done_keep(stage: str, retry_errors: bool) -> Callable[[dict[str, Any]], bool]:
    """The predicate the local stage uses for 'already done' (kept in step with it)."""
    from judge.stages.generate import finished

    if not retry_errors:
        return finished
    if stage == "generate":
        return lambda o: o.get("status") == "ok"
    return lambda o: o.get("parse_status") != "error"


def needs_whole_groups(cfg: RunConfig, stage: str) -> bool:
    """True if ``stage`` builds tasks from whole counterfactual groups (pairwise/set rubrics)."""
    if stage != "score":
        return False
    from judge.stages.score import load_rubrics

    return any(rb.mode != "pointwise" for rb in load_rubrics(cfg.rubrics))


def output_ids(ctx: RunContext, stage: str) -> Iterator[tuple[str, str, str]]:
    """``(unit, cf_group, output id)`` for every record ``stage`` would write, in its order.

    A unit is the input a shard must receive to reproduce a record: a query for ``generate``;
    a generation for pointwise ``score``, or a whole counterfactual group when pairwise/set
    rubrics build tasks from the group. This mirrors the task enumeration of
    ``judge.stages.score.score`` (the tests check that the two agree).
    """
    cfg = ctx.cfg
    if stage == "generate":
        from judge.records import Generation
        from judge.stages.generate import generation_params

        for _, q in iter_jsonl(ctx.store.path("queries")):
            for spec in cfg.generators:
                for s in range(spec.samples):
                    yield q["query_id"], q["cf_group"], Generation.make_id(
                        q["query_id"], spec.model, generation_params(spec, s, cfg.seed), s)
        return
    from judge.stages.plan_judging import (
        build_groups,
        group_tasks,
        pointwise_tasks,
        slim,
        swap_partners,
    )
    from judge.stages.score import load_rubrics

    rubrics = load_rubrics(cfg.rubrics)
    by_group = needs_whole_groups(cfg, stage)
    partners = (swap_partners(o for _, o in iter_jsonl(ctx.store.path("queries")))
                if "attribute_swap" in cfg.probes else {})
    kept = []
    for _, gen in iter_jsonl(ctx.store.path("generations")):
        if gen.get("status") != "ok":
            continue
        if by_group:
            kept.append(slim(gen))
        unit = gen["cf_group"] if by_group else gen["generation_id"]
        for t in pointwise_tasks(gen, cfg.judges, rubrics, cfg.seed, cfg.probes,
                                 partners.get(gen["query_id"])):
            yield unit, gen["cf_group"], t.judgment_id
    if by_group:
        from judge.stages.analyze import DEFAULT_REFERENCE

        ref = {**DEFAULT_REFERENCE, **cfg.report.reference}
        for t in group_tasks(build_groups(kept), cfg.judges, rubrics, cfg.seed, ref):
            cf = t.gens[0]["cf_group"]
            yield cf, cf, t.judgment_id


def unit_files(cfg: RunConfig, stage: str) -> list[tuple[str, str, bool]]:
    """``(input file, field naming the line's key, keyed by group?)`` copied to each shard."""
    if stage == "generate":
        return [("queries", "query_id", False)]
    by_group = needs_whole_groups(cfg, stage)
    files = [("generations", "cf_group" if by_group else "generation_id", by_group)]
    if "attribute_swap" in cfg.probes:  # swap partners come from the group's queries
        files.append(("queries", "cf_group", True))
    return files


def iter_lines(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Raw lines (with newline) and their parsed objects (copied without re-encoding)."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield (line if line.endswith("\n") else line + "\n"), json.loads(line)


@dataclass
class ShardPlan:
    """Per-shard scratch directories (routed inputs, done-id stubs) and the counts."""

    dir: Path
    shards: int
    planned: int = 0
    skipped: int = 0
    pending: dict[int, int] = field(default_factory=dict)  # shard -> missing records

    def files(self, i: int) -> dict[str, bytes]:
        """The shard's scratch files by stage name (what its task receives)."""
        d = self.dir / f"{i:05d}"
        return {p.stem: p.read_bytes() for p in sorted(d.glob("*.jsonl"))} if d.exists() else {}


class _Spill:
    """Buffered appends to many per-shard files, with a bounded number of lines in memory."""

    def __init__(self, root: Path, max_lines: int = 20000):
        self.root, self.max_lines = root, max_lines
        self.buf: dict[tuple[int, str], list[str]] = {}
        self.n = 0

    def add(self, i: int, name: str, line: str) -> None:
        self.buf.setdefault((i, name), []).append(line)
        self.n += 1
        if self.n >= self.max_lines:
            self.flush()

    def flush(self) -> None:
        for (i, name), rows in self.buf.items():
            d = self.root / f"{i:05d}"
            d.mkdir(parents=True, exist_ok=True)
            with open(d / f"{name}.jsonl", "a", encoding="utf-8") as fh:
                fh.write("".join(rows))
        self.buf.clear()
        self.n = 0


def _route(table: dict[str, int | set[int]], key: str, shard: int) -> None:
    """Add ``shard`` to ``key``'s shards (an int costs ~125 B per key, a set ~350 B)."""
    cur = table.get(key)
    if cur is None:
        table[key] = shard
    elif isinstance(cur, int):
        if cur != shard:
            table[key] = {cur, shard}
    else:
        cur.add(shard)


def plan_shards(ctx: RunContext, stage: str, shards: int, scratch: Path) -> ShardPlan:
    """Route each unit's input lines to the shards owning its missing output ids.

    Streams to per-shard files under ``scratch``; memory holds the done ids (as the local
    stage does), the missing ids and the unit -> shards map.
    """
    _, out_stage, idf = STAGE_IO[stage]
    done = scan_ids(ctx.store.path(out_stage), idf, keep=done_keep(stage, ctx.retry_errors))
    plan = ShardPlan(scratch, shards)
    seen: set[str] = set()
    routes: dict[str, int | set[int]] = {}  # unit -> shard(s); an int while only one
    groups: dict[str, int | set[int]] = {}  # cf_group -> shard(s)
    for unit, cf_group, rid in output_ids(ctx, stage):
        plan.planned += 1
        if rid in done or rid in seen:
            plan.skipped += 1
            continue
        seen.add(rid)
        i = shard_of(rid, shards)
        _route(routes, unit, i)
        _route(groups, cf_group, i)
        plan.pending[i] = plan.pending.get(i, 0) + 1
    spill = _Spill(scratch)
    for name, key, by_group in unit_files(ctx.cfg, stage):
        table = groups if by_group else routes
        for line, obj in iter_lines(ctx.store.path(name)):
            to = table.get(obj.get(key), ())
            for i in (to,) if isinstance(to, int) else to:
                spill.add(i, name, line)
    stub_field = "status" if stage == "generate" else "parse_status"
    for rid in done:
        i = shard_of(rid, shards)
        if i in plan.pending:
            spill.add(i, out_stage, json.dumps({idf: rid, stub_field: "ok"}) + "\n")
    spill.flush()
    return plan


# ---------------------------------------------------------------- the task (worker side)

class ListSink:
    """A writer-like sink that keeps records as JSON lines (what a task returns)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, rec: Record | dict[str, Any]) -> None:
        self.lines.append(rec.model_dump_json() if isinstance(rec, Record)
                          else json.dumps(rec, ensure_ascii=False))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> ListSink:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


class FailingClient:
    """Stands in for a ModelClient: every call fails with ``error`` (no model is called)."""

    def __init__(self, error: CallError):
        from judge.llm.client import ModelStats

        self.error = error
        self.stats = ModelStats()

    async def complete(self, messages: Any, params: Any = None, *, sample: int = 0,
                       use_cache: bool = True) -> Any:
        from judge.llm.client import CallResult

        self.stats.errors += 1
        return CallResult(error=self.error, cost_usd=None)


def run_shard(cfg_json: str, stage: str, index: int, count: int, files: dict[str, bytes],
              budget_usd: float | None, retry_errors: bool,
              fail_with: dict[str, Any] | None = None,
              rubric_hashes: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``stage`` on one shard in a scratch store holding ``files``; return its records.

    With ``fail_with`` (a CallError dict) no model is called: every missing record of the
    shard becomes an error record, built by the stage's own code. ``rubric_hashes`` (the
    driver's) guard against a worker whose rubric files differ: its judgment ids would too.
    """
    from judge.llm.client import Budget
    from judge.stages import generate, score

    cfg = RunConfig.model_validate_json(cfg_json)
    if stage == "score" and rubric_hashes is not None:
        from judge.stages.score import load_rubrics

        here = {rb.ref: rb.hash for rb in load_rubrics(cfg.rubrics)}
        if here != rubric_hashes:
            raise RuntimeError(f"rubric files on {os.uname().nodename} differ from the "
                               f"driver's ({here} != {rubric_hashes}): install the same judge "
                               "checkout on every node")
    tmp = Path(tempfile.mkdtemp(prefix=f"judge-{stage}-{index}-"))
    try:
        store = RunStore(tmp)
        for name, data in files.items():
            store.path(name).write_bytes(data)
        sink = ListSink()
        ctx = RunContext(cfg, store, retry_errors=retry_errors, shard=(index, count),
                         sink_factory=lambda _stage: sink)
        ctx._budget = Budget(budget_usd, 0.0)
        if fail_with is not None:
            err = CallError.model_validate(fail_with)
            specs = cfg.generators if stage == "generate" else cfg.judges
            ctx._clients.update({s.label: FailingClient(err) for s in specs})
        try:
            res = (generate.generate if stage == "generate" else score.score)(ctx)
        finally:
            ctx.close()
        return {"index": index, "lines": sink.lines, "result": res.as_dict(),
                "stats": ctx.model_stats(), "node": os.uname().nodename, "pid": os.getpid()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
