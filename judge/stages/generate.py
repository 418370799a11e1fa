"""Stages ``queries`` (expand scenarios to queries.jsonl) and ``generate`` (answer them)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from judge.config import GeneratorSpec
from judge.context import RunContext
from judge.ids import stable_int
from judge.records import CallInfo, Generation, Query
from judge.stages.runner import Progress, StageResult, run_pool
from judge.store import iter_jsonl, scan_ids


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def expand_queries(ctx: RunContext) -> StageResult:
    """Write the run's queries (streamed); ids already present are skipped."""
    from judge.scenarios import iter_queries

    t0 = time.perf_counter()
    res = StageResult("queries")
    path = ctx.store.path("queries")
    done = scan_ids(path, "query_id")
    with ctx.store.writer("queries", ctx.cfg.flush_every * 16) as w:
        for q in iter_queries(ctx.cfg.queries, seed=ctx.cfg.seed):
            res.planned += 1
            if q.query_id in done:
                res.skipped += 1
                continue
            done.add(q.query_id)
            w.write(q)
            res.written += 1
        if ctx.cfg.queries.llm_written is not None:
            from judge.querygen import write_llm_queries

            write_llm_queries(ctx, done, w, res)
    if res.planned == 0:
        from judge.errors import DataError

        raise DataError("the query source produced no queries", path=ctx.cfg.source_path,
                        field="queries", hint="check the scenario paths, axes and limit")
    res.seconds = time.perf_counter() - t0
    return res


def generation_params(spec: GeneratorSpec, sample: int, seed: int) -> dict[str, Any]:
    """Sampling params for one sample; a per-sample seed unless the config fixes one."""
    params = dict(spec.params)
    if "seed" not in params:
        params["seed"] = _sample_seed(seed, sample)
    return params


@lru_cache(maxsize=1024)
def _sample_seed(seed: int, sample: int) -> int:
    return stable_int(seed, sample) % (2**31)


def finished(obj: dict[str, Any]) -> bool:
    """A record that a re-run skips: a success, or an error a retry cannot fix."""
    return obj.get("status") == "ok" or obj.get("parse_status") in ("ok", "parse_failure",
                                                                      "refusal") or (
        obj.get("error") is not None and not obj["error"].get("retryable", True))


def _count_lines(path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as fh:
        return sum(buf.count(b"\n") for buf in iter(lambda: fh.read(1 << 20), b""))


def generate(ctx: RunContext) -> StageResult:
    """Answer every query with every generator × sample; skip what is already done."""
    t0 = time.perf_counter()
    cfg = ctx.cfg
    res = StageResult("generate")
    keep = None if ctx.retry_errors else finished
    done = scan_ids(ctx.store.path("generations"), "generation_id",
                    keep=keep or (lambda o: o.get("status") == "ok"))
    n_queries = _count_lines(ctx.store.path("queries"))
    res.planned = n_queries * sum(g.samples for g in cfg.generators)
    clients = {g.label: ctx.client(g) for g in cfg.generators}

    def items() -> Iterator[tuple[Query, GeneratorSpec, int, dict[str, Any], str]]:
        for _, obj in iter_jsonl(ctx.store.path("queries")):
            q = Query.model_validate(obj)
            for spec in cfg.generators:
                for s in range(spec.samples):
                    params = generation_params(spec, s, cfg.seed)
                    gid = Generation.make_id(q.query_id, spec.model, params, s)
                    if gid in done:
                        res.skipped += 1
                        continue
                    if not ctx.in_shard(gid):
                        continue
                    yield q, spec, s, params, gid

    async def work(item: tuple[Query, GeneratorSpec, int, dict[str, Any], str]) -> Generation:
        q, spec, s, params, gid = item
        messages = q.messages()
        r = await clients[spec.label].complete(messages, params, sample=s)
        return Generation(
            generation_id=gid, query_id=q.query_id, cf_group=q.cf_group,
            scenario_id=q.scenario_id, context=q.context, attributes=q.attributes,
            prompt=messages, model=spec.label, model_string=spec.model, params=params, sample=s,
            status="ok" if r.ok else "error", response=r.text, finish_reason=r.finish_reason,
            error=r.error, usage=r.usage, cost_usd=r.cost_usd,
            call=CallInfo(latency_s=round(r.latency_s, 4), attempts=r.attempts, cached=r.cached,
                          created_at=now_iso()))

    progress = Progress("generate", res.planned, ctx.progress, lambda: ctx.budget.spent)
    workers = sum(g.concurrency for g in cfg.generators)
    try:
        with ctx.writer("generations") as w:
            asyncio.run(run_pool(items(), work, w, workers=workers, result=res,
                                 progress=progress, is_error=lambda r: r.status != "ok"))
    finally:
        progress.close()
    res.seconds = time.perf_counter() - t0
    return res
