"""The one driver under every executor: skip what is done, run the rest, write records.

:func:`drive` runs a stage (:class:`~judge.tasks._model.StageTasks`) on a run: it reads
the stage's inputs from the run store, skips the ids whose latest record is final (or
already pending: a duplicate input is called once), and hands the pending tasks to an
executor, which decides *where* they run (this process, worker processes, a Ray cluster)
and writes their records through the driver's sinks. The driver merges the counts and the
stage's manifest facts. :func:`run_tasks` is how any process runs a batch of tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from judge.config import RunConfig
from judge.context import RunContext
from judge.llm.client import BudgetExhausted
from judge.records import Generation, Record, done_predicate
from judge.store import RunStore, iter_jsonl, scan_ids
from judge.tasks._model import Progress, Reader, Sink, StageResult, StageTasks, Task, run_pool
from judge.tasks.generate import GenerateTasks
from judge.tasks.score import ScoreTasks

MODEL_STAGES = ("generate", "score")


def stage_tasks(cfg: RunConfig, name: str) -> StageTasks:
    """The task model of a model-calling stage (``generate`` or ``score``)."""
    if name == "generate":
        return GenerateTasks(cfg)
    if name == "score":
        return ScoreTasks(cfg)
    raise ValueError(f"not a model-calling stage: {name!r}")


def store_reader(store: RunStore) -> Reader:
    """A stage's inputs read from the run store's JSONL files."""
    return lambda name: (obj for _, obj in iter_jsonl(store.path(name)))


def done_ids(ctx: RunContext, st: StageTasks) -> set[str]:
    """Ids of ``st``'s records a re-run skips (final, or non-error with retry_errors)."""
    return scan_ids(ctx.store.path(st.output), st.id_field,
                    keep=done_predicate(ctx.retry_errors))


def pending(ctx: RunContext, st: StageTasks, result: StageResult,
            done: set[str] | None = None) -> Iterator[Task]:
    """The tasks still to run, in the stage's order; counts planned and skipped.

    A task whose id is done is skipped; so is a second task with an id already pending (a
    duplicate input line), so every record is made once.
    """
    done = done_ids(ctx, st) if done is None else done
    seen: set[str] = set()
    for t in st.tasks(store_reader(ctx.store)):
        result.planned += 1
        if t.id in done or t.id in seen:
            result.skipped += 1
            continue
        seen.add(t.id)
        yield t


class Executor(Protocol):
    """Where a batch of tasks runs. Every executor writes through the driver's sinks."""

    def run(self, ctx: RunContext, st: StageTasks, tasks: Iterator[Task],
            sinks: dict[str, Sink], result: StageResult) -> None: ...


class LocalExecutor:
    """Runs tasks in this process (an asyncio pool, per-model concurrency)."""

    def cluster_info(self) -> dict[str, Any]:
        """What the manifest records about this executor."""
        return {"executor": "local"}

    def shutdown(self) -> None:
        """Nothing to release."""

    def run(self, ctx: RunContext, st: StageTasks, tasks: Iterator[Task],
            sinks: dict[str, Sink], result: StageResult) -> None:
        inline = inline_judge(ctx, st)
        run_tasks(ctx, st, tasks, sinks, result, inline)


def inline_judge(ctx: RunContext, st: StageTasks, done: set[str] | None = None
                 ) -> InlineJudge | None:
    """The inline judge of a generate stage run with ``executor.overlap``, else None."""
    if not (ctx.judge_inline and st.name == "generate" and ctx.cfg.judges):
        return None
    score = ScoreTasks(ctx.cfg)
    return InlineJudge(ctx, score, done_ids(ctx, score) if done is None else done)


def drive(ctx: RunContext, st: StageTasks, executor: Executor | None = None) -> StageResult:
    """Run stage ``st`` on the run of ``ctx``: pending tasks on ``executor`` (default: this
    process), records through the run store's writers; returns the merged counts."""
    t0 = time.perf_counter()
    result = StageResult(st.name)
    with contextlib.ExitStack() as stack:
        sinks: dict[str, Any] = {st.output: stack.enter_context(ctx.writer(st.output))}
        if ctx.judge_inline and st.name == "generate" and ctx.cfg.judges:
            sinks["judgments"] = stack.enter_context(ctx.writer("judgments"))
            # an answer's judgments never reach the disk before the answer itself
            sinks["judgments"].flush_first = sinks[st.output]
        todo = pending(ctx, st, result)
        (executor or LocalExecutor()).run(ctx, st, todo, sinks, result)
        for _ in todo:  # a stopped stage leaves tasks unpulled: count them as planned
            pass
    result.extra.update(st.facts())
    result.seconds = time.perf_counter() - t0
    return result


def run_tasks(ctx: RunContext, st: StageTasks, tasks: Iterable[Task], sinks: dict[str, Sink],
              result: StageResult, inline: InlineJudge | None = None) -> StageResult:
    """Run ``tasks`` in this process with per-model concurrency; write through ``sinks``."""
    clients = LazyClients(ctx, st.models())

    async def work(task: Task) -> list[Record]:
        if inline is not None and inline.stopped is not None:
            raise inline.stopped
        rec = await st.run(task, clients)
        if inline is None:
            return [rec]
        return [rec, *await inline.judge(rec)]

    progress = Progress(st.name, None, ctx.progress, lambda: ctx.budget.spent)
    workers = sum(s.concurrency for s in st.models())
    try:
        asyncio.run(run_pool(tasks, work, sinks, st.output, workers=workers, result=result,
                             progress=progress, is_error=st.is_error))
    finally:
        progress.close()
    return result


class LazyClients(dict):
    """Model label -> client, made on first use: a stage with nothing left to call never
    sets up a provider (nor imports litellm, seconds of start-up)."""

    def __init__(self, ctx: RunContext, specs: Iterable[Any]):
        super().__init__()
        self._ctx = ctx
        self._specs = {s.label: s for s in specs}

    def __missing__(self, label: str) -> Any:
        client = self[label] = self._ctx.client(self._specs[label])
        return client


class InlineJudge:
    """Judges each new answer with the pointwise rubrics as soon as it arrives.

    Used when ``executor.overlap`` runs generate and score together: the score stage that
    follows finds these judgments done and adds only what needs more than one answer
    (pairwise and counterfactual-set rubrics, attribute-swap probes). The tasks, and so the
    judgment ids and contents, are the score stage's own (:meth:`ScoreTasks.pointwise` on
    the generation exactly as score reads it from the JSONL).
    """

    def __init__(self, ctx: RunContext, score: ScoreTasks, done: set[str]):
        self.score = score
        self.done = done
        self.clients = LazyClients(ctx, score.models())
        self.stopped: BudgetExhausted | None = None

    async def judge(self, gen: Generation) -> list[Record]:
        """The pointwise judgments of ``gen`` not made yet (none if it failed)."""
        if gen.status != "ok":
            return []
        obj = json.loads(gen.model_dump_json())  # as the score stage reads it
        made: list[Record] = []
        for t in self.score.pointwise(obj):
            if t.kind == "probe:attribute_swap" or t.id in self.done:
                continue
            try:
                made.append(await self.score.run(t, self.clients))
            except BudgetExhausted as err:  # keep the paid-for answer; stop after it
                self.stopped = err
                break
            self.done.add(t.id)
        return made
