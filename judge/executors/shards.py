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

from judge.config import RunConfig
from judge.context import RunContext
from judge.ids import shard_of
from judge.records import CallError, Record
from judge.store import RunStore, iter_jsonl, scan_ids

# stage -> (input file, output file, output id field)
STAGE_IO = {"generate": ("queries", "generations", "generation_id"),
            "score": ("generations", "judgments", "judgment_id")}


# ---------------------------------------------------------------- routing (driver side)

def done_keep(stage: str, retry_errors: bool) -> Callable[[dict[str, Any]], bool]:
    """The predicate the local stage uses for 'already done' (kept in step with it)."""
    from judge.stages.generate import finished

    if not retry_errors:
        return finished
    if stage == "generate":
        return lambda o: o.get("status") == "ok"
    return lambda o: o.get("parse_status") != "error"


def output_ids(ctx: RunContext, stage: str) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """Each input record of ``stage`` with the output ids the stage derives from it."""
    cfg = ctx.cfg
    if stage == "generate":
        from judge.records import Generation
        from judge.stages.generate import generation_params

        for _, q in iter_jsonl(ctx.store.path("queries")):
            ids = [Generation.make_id(q["query_id"], spec.model,
                                      generation_params(spec, s, cfg.seed), s)
                   for spec in cfg.generators for s in range(spec.samples)]
            yield q, ids
    else:
        from judge.stages.score import load_rubrics, pointwise_tasks

        rubrics = load_rubrics(cfg.rubrics)
        for _, gen in iter_jsonl(ctx.store.path("generations")):
            if gen.get("status") != "ok":
                continue
            yield gen, [t.judgment_id for t in pointwise_tasks(gen, cfg.judges, rubrics,
                                                                cfg.seed)]


@dataclass
class ShardPlan:
    """Per-shard scratch files of routed inputs and done-id stubs, and the counts."""

    dir: Path
    shards: int
    planned: int = 0
    skipped: int = 0
    pending: dict[int, int] = field(default_factory=dict)  # shard -> missing records

    def inputs(self, i: int) -> Path:
        return self.dir / f"in-{i:05d}.jsonl"

    def done(self, i: int) -> Path:
        return self.dir / f"done-{i:05d}.jsonl"


def plan_shards(ctx: RunContext, stage: str, shards: int, scratch: Path) -> ShardPlan:
    """Route inputs to the shards owning their missing output ids (streamed to disk)."""
    _, out_stage, idf = STAGE_IO[stage]
    done = scan_ids(ctx.store.path(out_stage), idf, keep=done_keep(stage, ctx.retry_errors))
    stub_field = "status" if stage == "generate" else "parse_status"
    plan = ShardPlan(scratch, shards)
    seen: set[str] = set()
    files: dict[int, Any] = {}
    try:
        for obj, ids in output_ids(ctx, stage):
            by_shard: dict[int, list[str]] = {}
            for rid in ids:
                plan.planned += 1
                if rid in done or rid in seen:
                    plan.skipped += 1
                    continue
                seen.add(rid)
                by_shard.setdefault(shard_of(rid, shards), []).append(rid)
            for i, rids in by_shard.items():
                if i not in files:
                    files[i] = (open(plan.inputs(i), "w", encoding="utf-8"),
                                open(plan.done(i), "w", encoding="utf-8"))
                fin, fdone = files[i]
                fin.write(json.dumps(obj, ensure_ascii=False) + "\n")
                plan.pending[i] = plan.pending.get(i, 0) + len(rids)
                for rid in ids:  # this input's other ids in shard i that are done: skip them
                    if rid in done and shard_of(rid, shards) == i:
                        fdone.write(json.dumps({idf: rid, stub_field: "ok"}) + "\n")
    finally:
        for fin, fdone in files.values():
            fin.close()
            fdone.close()
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


def run_shard(cfg_json: str, stage: str, index: int, count: int, inputs: bytes, done: bytes,
              budget_usd: float | None, retry_errors: bool,
              fail_with: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``stage`` on one shard in a scratch store; return its records and counts.

    With ``fail_with`` (a CallError dict) no model is called: every missing record of the
    shard becomes an error record, built by the stage's own code.
    """
    from judge.llm.client import Budget
    from judge.stages import generate, score

    cfg = RunConfig.model_validate_json(cfg_json)
    in_stage, out_stage, _ = STAGE_IO[stage]
    tmp = Path(tempfile.mkdtemp(prefix=f"judge-{stage}-{index}-"))
    try:
        store = RunStore(tmp)
        store.path(in_stage).write_bytes(inputs)
        store.path(out_stage).write_bytes(done)
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
