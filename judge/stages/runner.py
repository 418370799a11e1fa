"""Shared machinery for model-calling stages: a bounded async worker pool over a stream."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from judge.llm.client import BudgetExhausted
from judge.records import Record

T = TypeVar("T")


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


async def run_pool(items: Iterable[T], work: Callable[[T], Awaitable[Record | list[Record] | None]],
                   writer: Any, *, workers: int, result: StageResult,
                   progress: Progress, is_error: Callable[[Record], bool]) -> StageResult:
    """Run ``work`` over a stream with ``workers`` tasks; write records as they finish.

    Items are pulled lazily, so memory holds only what is in flight. A
    :class:`BudgetExhausted` from any worker stops all workers from taking new items;
    calls already in flight finish and are written, so the run resumes cleanly.
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
                out = await work(item)
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
            recs = out if isinstance(out, list) else ([out] if out is not None else [])
            for rec in recs:
                writer.write(rec)
                err = is_error(rec)
                result.written += 1
                result.errors += int(err)
                progress.advance(err)

    tasks = [asyncio.create_task(worker()) for _ in range(max(1, workers))]
    try:
        await asyncio.gather(*tasks)
    finally:
        gc.unfreeze()
        for t in tasks:
            t.cancel()
        writer.flush()
    return result
