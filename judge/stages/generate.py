"""Stages ``queries`` (expand scenarios to queries.jsonl) and ``generate`` (answer them)."""

from __future__ import annotations

import time

from judge.context import RunContext
from judge.errors import DataError
from judge.querygen import write_llm_queries
from judge.scenarios import iter_queries
from judge.store import scan_ids
from judge.tasks import Executor, GenerateTasks, StageResult, drive


def expand_queries(ctx: RunContext) -> StageResult:
    """Write the run's queries (streamed); ids already present are skipped."""
    t0 = time.perf_counter()
    res = StageResult("queries")
    path = ctx.store.path("queries")
    done = scan_ids(path, "query_id")
    this_run: set[str] = set()  # a query id twice in the source is one query, called once
    dups = 0
    with ctx.store.writer("queries", ctx.cfg.flush_every * 16) as w:
        for q in iter_queries(ctx.cfg.queries, seed=ctx.cfg.seed):
            if q.query_id in this_run:
                dups += 1
                continue
            this_run.add(q.query_id)
            res.planned += 1
            if q.query_id in done:
                res.skipped += 1
                continue
            done.add(q.query_id)
            w.write(q)
            res.written += 1
        if ctx.cfg.queries.llm_written is not None:
            write_llm_queries(ctx, done, w, res)
    if dups:
        res.extra["duplicate_query_ids"] = dups
    if res.planned == 0:
        raise DataError("the query source produced no queries", path=ctx.cfg.source_path,
                        field="queries", hint="check the scenario paths, axes and limit")
    res.seconds = time.perf_counter() - t0
    return res


def generate(ctx: RunContext, executor: Executor | None = None) -> StageResult:
    """Answer every query with every generator × sample; skip what is already done."""
    return drive(ctx, GenerateTasks(ctx.cfg), executor)
