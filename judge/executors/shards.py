"""Shard planning (driver side) and the shard task body (worker side), without Ray.

The driver's pending tasks (:func:`judge.tasks.drive`) are split by ``shard_of(task.id)``;
each shard receives the input lines of its tasks' units and the ids it runs, rebuilds
those tasks with the stage's own :class:`~judge.tasks.StageTasks` and runs them.

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
from judge.llm.client import CallResult, ModelStats
from judge.plugins import portable_plugin_options
from judge.records import CallError, Record
from judge.store import RunStore
from judge.tasks import StageResult, StageTasks, Task, run_tasks, stage_tasks, store_reader


def task_config(cfg: RunConfig, limit: Callable[[ModelSpec], dict[str, Any]]) -> RunConfig:
    """``cfg`` as a task in another process sees it: absolute paths (sim profile, cache
    dir), and each model spec updated with ``limit(spec)`` (its share of the caps)."""
    cache = cfg.cache.model_copy(update={"dir": str(resolve_path(cfg.cache.dir))})
    return cfg.model_copy(update={
        "plugins": portable_plugin_options(cfg), "cache": cache,
        "generators": [g.model_copy(update=limit(g)) for g in cfg.generators],
        "judges": [j.model_copy(update=limit(j)) for j in cfg.judges]})


# ---------------------------------------------------------------- routing (driver side)

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
    """Per-shard scratch directories (routed inputs, assigned task ids) and the counts."""

    dir: Path
    shards: int
    pending: dict[int, int] = field(default_factory=dict)  # shard -> tasks to run

    def files(self, i: int) -> dict[str, bytes]:
        """The shard's input files by stage file name (what its task receives)."""
        d = self.dir / f"{i:05d}"
        return {p.stem: p.read_bytes() for p in sorted(d.glob("*.jsonl"))} if d.exists() else {}

    def assigned(self, i: int) -> frozenset[str]:
        """The ids of the tasks shard ``i`` runs."""
        p = self.dir / f"{i:05d}" / ASSIGNED
        return frozenset(p.read_text(encoding="utf-8").split()) if p.exists() else frozenset()


ASSIGNED = "assigned.ids"


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
            fname = name if name == ASSIGNED else f"{name}.jsonl"
            with open(d / fname, "a", encoding="utf-8") as fh:
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


def plan_shards(store: RunStore, st: StageTasks, tasks: Iterator[Task], shards: int,
                scratch: Path) -> ShardPlan:
    """Route each pending task's input lines (its ``unit``) to the shard owning its id.

    Streams to per-shard files under ``scratch``: each shard's inputs and the ids it runs.
    Memory holds the pending ids and the unit -> shards map.
    """
    plan = ShardPlan(scratch, shards)
    spill = _Spill(scratch)
    routes: dict[str, int | set[int]] = {}  # unit -> shard(s); an int while only one
    groups: dict[str, int | set[int]] = {}  # cf_group -> shard(s)
    for t in tasks:
        i = shard_of(t.id, shards)
        _route(routes, t.unit, i)
        _route(groups, t.cluster, i)
        plan.pending[i] = plan.pending.get(i, 0) + 1
        spill.add(i, ASSIGNED, t.id + "\n")
    for inp in st.inputs:
        table = groups if inp.by_group else routes
        for line, obj in iter_lines(store.path(inp.name)):
            to = table.get(obj.get(inp.key), ())
            for i in (to,) if isinstance(to, int) else to:
                spill.add(i, inp.name, line)
    spill.flush()
    return plan


# ---------------------------------------------------------------- the task (worker side)

class ListSink:
    """A sink that keeps records as JSON lines (what a Ray task returns)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, rec: Record) -> None:
        self.lines.append(rec.model_dump_json())

    def flush(self) -> None:
        pass


class FailingClient:
    """Stands in for a ModelClient: every call fails with ``error`` (no model is called)."""

    def __init__(self, error: CallError):
        self.error = error
        self.stats = ModelStats()

    async def complete(self, messages: Any, params: Any = None, *, sample: int = 0,
                       use_cache: bool = True) -> Any:
        self.stats.errors += 1
        return CallResult(error=self.error, cost_usd=None)


def run_shard(cfg_json: str, stage: str, index: int, count: int, files: dict[str, bytes],
              assigned: frozenset[str], budget_usd: float | None, retry_errors: bool,
              fail_with: dict[str, Any] | None = None,
              rubric_hashes: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the ``assigned`` tasks of ``stage`` in a scratch store holding ``files`` (the
    shard's inputs); return their records as JSON lines.

    With ``fail_with`` (a CallError dict) no model is called: every assigned task becomes
    an error record, built by the stage's own code. ``rubric_hashes`` (the driver's) guard
    against a worker whose rubric files differ: its judgment ids would too.
    """

    cfg = RunConfig.model_validate_json(cfg_json)
    st = stage_tasks(cfg, stage)
    if rubric_hashes is not None:
        here = st.facts().get("rubrics", {})
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
        ctx = RunContext(cfg, store, retry_errors=retry_errors)
        ctx.share_budget(budget_usd)
        if fail_with is not None:
            err = CallError.model_validate(fail_with)
            ctx.use_clients({s.label: FailingClient(err) for s in st.models()})
        res = StageResult(stage)
        tasks = (t for t in st.tasks(store_reader(store)) if t.id in assigned)
        try:
            run_tasks(ctx, st, tasks, {st.output: sink}, res)
        finally:
            ctx.close()
        return {"index": index, "lines": sink.lines, "result": res.as_dict(),
                "stats": ctx.model_stats(), "node": os.uname().nodename, "pid": os.getpid()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
