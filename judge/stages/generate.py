"""Stages ``queries`` (expand scenarios to queries.jsonl) and ``generate`` (answer them)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from judge.config import GeneratorSpec
from judge.context import RunContext
from judge.ids import stable_int
from judge.llm.client import BudgetExhausted
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
    inline = InlineJudge(ctx) if ctx.judge_inline else None
    try:
        with ctx.writer("generations") as w, inline or contextlib.nullcontext():
            if inline is not None:
                work, w = inline.wrap(work), inline.after(w)
            asyncio.run(run_pool(items(), work, w, workers=workers, result=res,
                                 progress=progress, is_error=lambda r: r.status != "ok"))
    finally:
        progress.close()
        if inline is not None:
            res.extra["judged_inline"] = inline.counts
    res.seconds = time.perf_counter() - t0
    return res


class InlineJudge:
    """Judges each new answer with the pointwise rubrics as soon as it arrives.

    Used when ``executor.overlap`` runs generate and score together: the score stage that
    follows finds these judgments done and adds only what needs more than one answer
    (pairwise and counterfactual-set rubrics, attribute-swap probes). The tasks, and so the
    judgment ids and contents, are the score stage's own (``pointwise_tasks`` on the
    generation exactly as score reads it from the JSONL).

    An answer's judgments are written after the answer, and the generations file is flushed
    before the judgments file: a kill never leaves a judgment whose answer was lost (and
    would be generated again, possibly differently, on resume).
    """

    def __init__(self, ctx: RunContext):
        from judge.stages.score import load_rubrics

        self.ctx = ctx
        self.rubrics = load_rubrics(ctx.cfg.rubrics)
        self.clients = {j.label: ctx.client(j) for j in ctx.cfg.judges}
        self.done: set[str] = set()
        self.counts = {"written": 0, "errors": 0, "parse_failures": 0}
        self.pending: dict[str, list[Any]] = {}  # generation id -> its judgments, unwritten
        self._writer: Any = None
        self.stopped: BudgetExhausted | None = None

    def __enter__(self) -> InlineJudge:
        from judge.stages.score import done_judgments

        self.done = done_judgments(self.ctx)
        self._writer = self.ctx.writer("judgments").__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._writer.__exit__(*exc)

    def after(self, generations: Any) -> _ThenJudgments:
        """The generations writer, followed by each answer's judgments."""
        self._writer.flush_first = generations
        return _ThenJudgments(generations, self)

    def wrap(self, work: Any) -> Any:
        """``work`` followed by this answer's pointwise judgments (held until it is written)."""
        import json

        from judge.stages.plan_judging import pointwise_tasks
        from judge.stages.score import judge_task

        cfg = self.ctx.cfg

        async def work_then_judge(item: Any) -> Generation:
            if self.stopped is not None:
                raise self.stopped
            gen = await work(item)
            if gen.status != "ok":
                return gen
            obj = json.loads(gen.model_dump_json())  # as the score stage reads it
            made = self.pending.setdefault(gen.generation_id, [])
            for t in pointwise_tasks(obj, cfg.judges, self.rubrics, cfg.seed, cfg.probes):
                if t.judgment_id in self.done:
                    continue
                try:
                    j = await judge_task(t, self.clients[t.spec.label], cfg.seed)
                except BudgetExhausted as err:  # keep the paid-for answer; stop after it
                    self.stopped = err
                    return gen
                self.done.add(t.judgment_id)
                made.append(j)
            return gen

        return work_then_judge

    def write(self, gen: Generation) -> None:
        """Write the judgments made for ``gen`` (just written itself)."""
        for j in self.pending.pop(gen.generation_id, []):
            self._writer.write(j)
            self.counts["written"] += 1
            self.counts["errors"] += j.parse_status != "ok"
            self.counts["parse_failures"] += j.parse_status == "parse_failure"

    def flush(self) -> None:
        self._writer.flush()


@dataclass
class _ThenJudgments:
    """A generations writer that writes each answer's inline judgments right after it."""

    generations: Any
    inline: InlineJudge

    def write(self, gen: Generation) -> None:
        self.generations.write(gen)
        self.inline.write(gen)

    def flush(self) -> None:
        self.generations.flush()
        self.inline.flush()
