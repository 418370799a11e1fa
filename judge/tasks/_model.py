"""The task model: what a model-calling stage does, one task at a time.

A :class:`Task` is one model call's worth of work (plus its repair re-asks): the id of the
record it writes, the input *unit* a worker elsewhere needs to rebuild it, its cluster
(counterfactual group) and the model it calls. A stage's :class:`StageTasks` enumerates
its tasks from its inputs (pure: the same inputs give the same tasks, in the same order)
and runs one. The driver (:mod:`judge.tasks.driver`) skips finished ids and writes records
through a :class:`Sink`; executors only decide where batches of tasks run; ``judge plan``
counts the same tasks.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from judge.config import ModelSpec
from judge.llm.client import BudgetExhausted
from judge.records import Record

T = TypeVar("T")

#: name of a stage input file -> its records (the run store's JSONL, or a plan's synthetic rows)
Reader = Callable[[str], Iterable[dict[str, Any]]]


@dataclass(frozen=True)
class Task:
    """One unit of model work.

    ``id`` is the id of the record the task writes (``generation_id``, ``judgment_id``);
    ``unit`` the key of the input lines it needs (a query id, a generation id, or a
    counterfactual group when the task reads a whole group); ``cluster`` its counterfactual
    group; ``model`` the label of the model it calls; ``kind`` what ``judge plan`` counts
    it as (``generate``, ``score``, ``probe:<name>``); ``payload`` what ``run`` needs.
    """

    id: str
    unit: str
    cluster: str
    model: str
    kind: str
    payload: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class StageInput:
    """An input file of a stage and the field that keys its lines by task ``unit``."""

    name: str
    key: str
    by_group: bool = False  # keyed by cf_group: every line of a unit's group is needed


@runtime_checkable
class Sink(Protocol):
    """Where a stage's records go: the run store's JSONL, a pipe to the driver, a list."""

    def write(self, rec: Record) -> None: ...

    def flush(self) -> None: ...


class StageTasks(Protocol):
    """A model-calling stage as tasks (see the module docstring)."""

    name: str  # stage name: generate, score
    output: str  # the store file its records go to
    id_field: str  # the id field of its records
    inputs: tuple[StageInput, ...]

    def models(self) -> list[ModelSpec]: ...

    def tasks(self, read: Reader) -> Iterator[Task]: ...

    async def run(self, task: Task, clients: dict[str, Any]) -> Record: ...

    def is_error(self, rec: Record) -> bool: ...

    def facts(self) -> dict[str, Any]: ...


@dataclass
class StageResult:
    """Counts for one stage run (written to the manifest)."""

    stage: str
    planned: int = 0
    skipped: int = 0
    written: int = 0
    errors: int = 0
    parse_failures: int = 0
    stopped: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Progress:
    """A rich progress bar showing done/total, errors and cost; silent when disabled."""

    def __init__(self, label: str, total: int | None, enabled: bool, cost_fn: Callable[[], float]):
        self.enabled = enabled
        self.cost_fn = cost_fn
        self.errors = 0
        self._bar = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("errors {task.fields[errors]}"),
                                 TextColumn("${task.fields[cost]:.4f}"), TimeRemainingColumn(),
                                 transient=False)
            self._task = self._bar.add_task(label, total=total, errors=0, cost=0.0)
            self._bar.start()

    def advance(self, error: bool = False) -> None:
        if error:
            self.errors += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1, errors=self.errors, cost=self.cost_fn())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


OUTPUT_OF = {"generation": "generations", "judgment": "judgments", "query": "queries",
             "human_label": "human_labels"}


async def run_pool(items: Iterable[T], work: Callable[[T], Awaitable[list[Record]]],
                   sinks: dict[str, Sink], output: str, *, workers: int, result: StageResult,
                   progress: Progress, is_error: Callable[[Record], bool]) -> StageResult:
    """Run ``work`` over a stream with ``workers`` tasks; write records as they finish.

    ``work`` returns the records one item made: the stage's own record first, then any
    records that refer to it (an answer's inline judgments), each written to the sink of
    its file (``sinks[OUTPUT_OF[rec.kind]]``); only ``output`` records are counted in
    ``result`` (the others in ``result.extra["judged_inline"]``). Items are pulled lazily,
    so memory holds only what is in flight. A :class:`BudgetExhausted` from any worker
    stops all workers from taking new items; calls already in flight finish and are
    written, so the run resumes cleanly.
    """
    it: Iterator[T] = iter(items)
    stop = asyncio.Event()
    frozen = False

    async def worker() -> None:
        nonlocal frozen
        while not stop.is_set():
            try:
                item = next(it)
            except StopIteration:
                return
            try:
                recs = await work(item)
            except BudgetExhausted as err:
                result.stopped = f"budget: {err}"
                stop.set()
                return
            if not frozen:
                # The ~400k objects alive once the first call is back (litellm, imported by
                # it, and the other modules) outlive the pool: keep the cyclic GC from
                # re-scanning them at every full collection while the calls run (~1.5 s of
                # CPU per 4,000 calls). gc.unfreeze() hands them back when the pool ends.
                gc.freeze()
                frozen = True
            for rec in recs:
                name = OUTPUT_OF[rec.kind]
                sinks[name].write(rec)
                if name == output:
                    err = is_error(rec)
                    result.written += 1
                    result.errors += int(err)
                    result.parse_failures += int(getattr(rec, "parse_status", None)
                                                 == "parse_failure")
                    progress.advance(err)
                else:
                    side = result.extra.setdefault("judged_inline", {
                        "written": 0, "errors": 0, "parse_failures": 0})
                    side["written"] += 1
                    side["errors"] += int(rec.parse_status != "ok")
                    side["parse_failures"] += int(rec.parse_status == "parse_failure")

    tasks = [asyncio.create_task(worker()) for _ in range(max(1, workers))]
    try:
        await asyncio.gather(*tasks)
    finally:
        gc.unfreeze()
        for t in tasks:
            t.cancel()
        for sink in sinks.values():
            sink.flush()
    return result
