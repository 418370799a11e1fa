"""Run the model-calling stages in worker processes on this machine (``executor.kind: processes``).

litellm spends several milliseconds of CPU per call, so one Python process tops out at a few
hundred calls a second whatever the provider's latency. This executor runs the stage's tasks
(:mod:`judge.tasks`) in ``workers`` processes; the driver (:func:`judge.tasks.drive`) has
already decided which tasks are pending, and each worker gets the ids of its share
(``judge.ids.shard_of``), rebuilds those tasks from the run's inputs and runs them:

- **One writer.** Workers open the run directory read-only (they read only the stage's
  inputs). They stream their records back to the driver as JSON lines over a pipe, in batches of at most ``flush_every`` records or
  50 ms; the driver appends them to the stage's JSONL (flushed and fsynced every
  ``flush_every`` records), as the local executor does. A killed run resumes the same way:
  missing ids are recomputed, and a kill loses at most the calls in flight and
  ``flush_every`` records per process.
- **Same totals.** Each model's ``concurrency`` and ``budget_usd`` and the run's remaining
  budget are divided over the workers, so the machine never has more calls in flight, or
  spends more, than the config allows.
- **Cheap start.** Workers fork from a ``forkserver`` that has already imported litellm
  (``spawn`` where there is no forkserver). The driver passes its environment to each worker,
  so keys exported after the server started are seen; nothing is written to disk.
- **Clean stop.** A worker exits as soon as the driver goes away (its control pipe closes),
  so a killed driver leaves no process calling models behind.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Iterator
from multiprocessing import forkserver
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from judge.config import ModelSpec, RunConfig
from judge.context import RunContext
from judge.errors import JudgeError
from judge.executors.shards import task_config
from judge.ids import shard_of
from judge.llm.client import redact
from judge.records import Record
from judge.store import RunStore
from judge.tasks import (
    InlineJudge,
    LocalExecutor,
    Progress,
    ScoreTasks,
    Sink,
    StageResult,
    StageTasks,
    Task,
    done_ids,
    run_tasks,
    stage_tasks,
    store_reader,
)

BATCH_SECONDS = 0.05  # a worker sends its records at least this often (or flush_every)
PRELOAD = "judge.executors._preload"


class WorkerError(JudgeError):
    """A worker process failed; what it wrote before failing is kept (re-run to resume)."""


def default_workers() -> int:
    """Twice the CPUs, at most 16. litellm spends its CPU in bursts (a wave of replies
    arrives together and is processed back to back while the next requests wait), so a
    second process per core works while the first one's calls are on the network."""
    return max(1, min(2 * (os.cpu_count() or 1), 16))


def worker_count(cfg: RunConfig, stage: str, inline: bool = False) -> int:
    """Workers for ``stage``: ``executor.workers`` (default: :func:`default_workers`), at
    most the smallest model concurrency (each worker needs at least one call slot per model
    it calls; ``inline``: generate also calls the judges)."""
    n = cfg.executor.workers or default_workers()
    models = stage_tasks(cfg, stage).models() + (list(cfg.judges) if inline else [])
    return max(1, min([n, *(s.concurrency for s in models)]))


def split(total: int, n: int, i: int) -> int:
    """Worker ``i``'s share of ``total`` slots over ``n`` workers (shares sum to ``total``)."""
    return total // n + (1 if i < total % n else 0)


def worker_config(cfg: RunConfig, n: int, i: int) -> RunConfig:
    """The config worker ``i`` of ``n`` sees: its share of each model's concurrency and
    budget, and absolute paths (a worker's working directory is not the driver's)."""
    def share(spec: ModelSpec) -> dict[str, Any]:
        upd: dict[str, Any] = {"concurrency": max(1, split(spec.concurrency, n, i))}
        if spec.budget_usd is not None:
            upd["budget_usd"] = spec.budget_usd / n
        return upd

    return task_config(cfg, share)


def mp_context() -> Any:
    """``forkserver`` preloading litellm where available, else ``spawn`` (never plain fork:
    the driver may hold threads and locks)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        mp = multiprocessing.get_context("forkserver")
        mp.set_forkserver_preload([PRELOAD])
        return mp
    return multiprocessing.get_context("spawn")


# ---------------------------------------------------------------- worker side

class PipeSink:
    """A writer for one output file (``generations``, ``judgments``) that sends JSON lines to
    the driver in batches (count- or time-bound)."""

    def __init__(self, conn: Connection, name: str, batch: int, is_error: Any):
        self.conn, self.name, self.batch, self.is_error = conn, name, batch, is_error
        self.lines: list[str] = []
        self.errors = 0
        self.spent = lambda: 0.0
        self.flush_first: Any = None  # as JsonlWriter.flush_first
        self._last = time.monotonic()

    def write(self, rec: Record) -> None:
        self.lines.append(rec.model_dump_json())
        self.errors += int(self.is_error(rec))
        if len(self.lines) >= self.batch or time.monotonic() - self._last >= BATCH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.lines and self.flush_first is not None:
            self.flush_first.flush()
        if self.lines:
            self.conn.send(("lines", self.name, self.lines, self.errors, self.spent()))
            self.lines, self.errors = [], 0
        self._last = time.monotonic()

    def __enter__(self) -> PipeSink:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.flush()


def _exit_when_driver_goes(ctrl: Connection) -> None:
    """Block on the control pipe; the driver closing it (or dying) ends this process."""
    try:
        ctrl.recv()
    except (EOFError, OSError):
        pass
    os._exit(3)


def worker_main(cfg_json: str, run_dir: str, stage: str, assigned: frozenset[str],
                inline_done: frozenset[str] | None, budget_usd: float | None,
                retry_errors: bool, env: dict[str, str], data: Connection,
                ctrl: Connection) -> None:
    """Run the ``assigned`` tasks of ``stage`` on the run directory (read-only);
    ``inline_done`` (with ``executor.overlap``): judgments already made."""
    os.environ.clear()
    os.environ.update(env)
    threading.Thread(target=_exit_when_driver_goes, args=(ctrl,), daemon=True).start()
    try:
        cfg = RunConfig.model_validate_json(cfg_json)
        ctx = RunContext(cfg, RunStore(Path(run_dir), create=False), retry_errors=retry_errors,
                         judge_inline=inline_done is not None)
        ctx.share_budget(budget_usd)
        st = stage_tasks(cfg, stage)
        score = ScoreTasks(cfg) if inline_done is not None else None
        sinks: dict[str, Any] = {st.output: PipeSink(data, st.output, cfg.flush_every,
                                                     st.is_error)}
        inline = None
        if score is not None:
            sinks["judgments"] = PipeSink(data, "judgments", cfg.flush_every, score.is_error)
            sinks["judgments"].flush_first = sinks[st.output]
            inline = InlineJudge(ctx, score, set(inline_done))
        for s in sinks.values():
            s.spent = lambda: ctx.budget.spent
        res = StageResult(stage)
        tasks = (t for t in st.tasks(store_reader(ctx.store)) if t.id in assigned)
        try:
            run_tasks(ctx, st, tasks, sinks, res, inline)
        finally:
            ctx.close()
        for s in sinks.values():
            s.flush()
        data.send(("done", res.as_dict(), ctx.model_stats()))
    except BaseException as err:  # noqa: BLE001 - reported to the driver, which raises

        msg = (err.one_line() if isinstance(err, JudgeError)
               else f"{type(err).__name__}: {' '.join(str(err).split())[:300]}")
        data.send(("error", redact(msg), getattr(err, "exit_code", 1),
                   redact(traceback.format_exc())))
    finally:
        data.close()


# ---------------------------------------------------------------- driver side

class ProcessExecutor:
    """Runs ``generate`` and ``score`` in local worker processes; see the module docstring."""

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.mp = mp_context()

    @classmethod
    def connect(cls, cfg: RunConfig) -> ProcessExecutor:
        """Start the forkserver now, so litellm imports while the driver prepares the run."""
        ex = cls(cfg)
        if ex.mp.get_start_method() == "forkserver":
            forkserver.ensure_running()
        return ex

    def shutdown(self) -> None:
        """Nothing to release: workers end with their stage; the forkserver with the driver."""

    def cluster_info(self) -> dict[str, Any]:
        """What the manifest records about this executor."""
        return {"executor": "processes", "workers": self.cfg.executor.workers or default_workers(),
                "cpus": os.cpu_count(), "start_method": self.mp.get_start_method()}

    def after_batch(self, worker: int, pid: int) -> None:
        """Called after each batch of a worker's records is received (a hook for tests)."""

    def run(self, ctx: RunContext, st: StageTasks, tasks: Iterator[Task],
            sinks: dict[str, Sink], result: StageResult) -> None:
        """Run the pending ``tasks`` over ``worker_count`` processes; append their records
        through ``sinks`` as they come."""
        todo = [t.id for t in tasks]
        inline = ctx.judge_inline and "judgments" in sinks and st.name == "generate"
        n = min(worker_count(self.cfg, st.name, inline), len(todo))
        if n <= 1:  # nothing to call, or nothing to gain from a second process
            wanted = set(todo)
            LocalExecutor().run(ctx, st, (t for t in st.tasks(store_reader(ctx.store))
                                          if t.id in wanted), sinks, result)
            return
        shares: list[set[str]] = [set() for _ in range(n)]
        for tid in todo:
            shares[shard_of(tid, n)].add(tid)
        inline_done = frozenset(done_ids(ctx, ScoreTasks(self.cfg))) if inline else None
        budget = None
        if self.cfg.budget_usd is not None:
            budget = max(0.0, self.cfg.budget_usd - ctx.budget.spent) / n
        env = dict(os.environ)
        workers = []
        for i in range(n):
            data_r, data_w = self.mp.Pipe(duplex=False)
            ctrl_r, ctrl_w = self.mp.Pipe(duplex=False)
            cfg_json = worker_config(self.cfg, n, i).model_dump_json()
            p = self.mp.Process(target=worker_main, name=f"judge-{st.name}-{i}", daemon=True,
                                args=(cfg_json, str(ctx.store.dir.resolve()), st.name,
                                      frozenset(shares[i]), inline_done, budget,
                                      ctx.retry_errors, env, data_w, ctrl_r))
            p.start()
            data_w.close()
            ctrl_r.close()
            workers.append((p, data_r, ctrl_w))
        try:
            stats = self._collect(ctx, st, workers, sinks, result)
        finally:
            for p, data_r, ctrl_w in workers:
                ctrl_w.close()  # a worker still running exits now
                data_r.close()
                p.join(timeout=5)
        result.extra["processes"] = {
            "workers": n, "model_stats": stats,
            "task_concurrency": {s.label: [split(s.concurrency, n, i) for i in range(n)]
                                 for s in st.models()}}

    def _collect(self, ctx: RunContext, st: StageTasks,
                 workers: list[tuple[Any, Connection, Any]], sinks: dict[str, Sink],
                 res: StageResult) -> dict[str, dict[str, Any]]:
        """Append workers' lines through ``sinks`` until every worker has finished; merge
        their results. Workers never read the files the driver appends to."""
        conns = {data_r: i for i, (_, data_r, _) in enumerate(workers)}
        ended: set[int] = set()  # workers that sent "done" or "error"
        spent = [0.0] * len(workers)
        stats: dict[str, dict[str, Any]] = {}
        failures: list[tuple[int, str, int]] = []
        progress = Progress(f"{st.name} ({len(workers)} processes)", None, ctx.progress,
                            lambda: ctx.budget.spent + sum(spent))
        inline = {"written": 0, "errors": 0}
        try:
            while conns:
                for conn in wait(list(conns), timeout=1.0):
                    i = conns[conn]
                    try:
                        msg = conn.recv()
                    except (EOFError, OSError):
                        del conns[conn]
                        if i not in ended:
                            workers[i][0].join(timeout=5)
                            failures.append((i, f"exited with code {workers[i][0].exitcode} "
                                                "before finishing", 1))
                        continue
                    if msg[0] == "lines":
                        _, name, lines, n_err, spent[i] = msg
                        sinks[name].write_lines(lines)
                        if name == st.output:
                            res.written += len(lines)
                            res.errors += n_err
                            for k in range(len(lines)):
                                progress.advance(k < n_err)
                        else:  # judgments made inline by generate (executor.overlap)
                            inline["written"] += len(lines)
                            inline["errors"] += n_err
                        self.after_batch(i, workers[i][0].pid)
                    elif msg[0] == "done":
                        ended.add(i)
                        self._merge(ctx, res, msg[1], msg[2], stats)
                        spent[i] = 0.0
                    else:
                        ended.add(i)
                        failures.append((i, msg[1], msg[2]))
        finally:
            progress.close()
        if "judged_inline" in res.extra or inline["written"]:
            res.extra.setdefault("judged_inline", {"parse_failures": 0}).update(inline)
        if failures:
            i, msg, code = failures[0]
            err = WorkerError(f"{st.name} worker {i} of {len(workers)} failed: {msg}",
                              hint="the records written so far are kept; fix the cause and "
                                   "re-run to resume")
            err.exit_code = code
            raise err
        return stats

    @staticmethod
    def _merge(ctx: RunContext, res: StageResult, r: dict[str, Any],
               worker_stats: dict[str, dict[str, Any]], stats: dict[str, dict[str, Any]]
               ) -> None:
        res.parse_failures += r.get("parse_failures", 0)
        ji = r.get("extra", {}).get("judged_inline")
        if ji:
            agg = res.extra.setdefault("judged_inline", {"parse_failures": 0})
            agg["parse_failures"] += ji.get("parse_failures", 0)
        res.stopped = res.stopped or r["stopped"]
        for label, st in worker_stats.items():
            agg = stats.setdefault(label, {})
            for k, v in st.items():
                agg[k] = agg.get(k, 0) + v
            ctx.budget.add(st.get("cost_usd"))
