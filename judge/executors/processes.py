"""Run the model-calling stages in worker processes on this machine (``executor.kind: processes``).

litellm spends several milliseconds of CPU per call, so one Python process tops out at a few
hundred calls a second whatever the provider's latency. This executor runs a stage's own code
in ``workers`` processes, each owning a shard of the output ids (``judge.ids.shard_of``):

- **One writer.** Workers open the run directory read-only. They stream their records back to
  the driver as JSON lines over a pipe, in batches of at most ``flush_every`` records or
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

import contextlib
import multiprocessing
import os
import threading
import time
import traceback
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from judge.config import ModelSpec, RunConfig
from judge.context import RunContext
from judge.errors import JudgeError
from judge.executors.shards import STAGE_IO, stage_models, task_config
from judge.records import Record
from judge.stages.runner import Progress, StageResult
from judge.store import JsonlWriter

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
    models = stage_models(cfg, stage) + (list(cfg.judges) if inline else [])
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


def count_missing(ctx: RunContext, stage: str) -> tuple[int, int]:
    """``(planned, missing)`` records of ``stage``: one pass over its inputs, no model call."""
    from judge.executors.shards import done_keep, output_ids
    from judge.store import scan_ids

    _, out, idf = STAGE_IO[stage]
    done = scan_ids(ctx.store.path(out), idf, keep=done_keep(stage, ctx.retry_errors))
    planned, seen = 0, set()
    for _, _, rid in output_ids(ctx, stage):
        planned += 1
        if rid not in done:
            seen.add(rid)
    return planned, len(seen)


# ---------------------------------------------------------------- worker side

class PipeSink:
    """A writer for one output file (``generations``, ``judgments``) that sends JSON lines to
    the driver in batches (count- or time-bound)."""

    def __init__(self, conn: Connection, name: str, batch: int):
        self.conn, self.name, self.batch = conn, name, batch
        self.lines: list[str] = []
        self.errors = 0
        self.spent = lambda: 0.0
        self.flush_first: Any = None  # as JsonlWriter.flush_first
        self._last = time.monotonic()

    def write(self, rec: Record) -> None:
        self.lines.append(rec.model_dump_json())
        bad = (rec.status != "ok") if self.name == "generations" else (rec.parse_status != "ok")
        self.errors += int(bad)
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


def worker_main(cfg_json: str, run_dir: str, stage: str, index: int, count: int,
                budget_usd: float | None, retry_errors: bool, judge_inline: bool,
                env: dict[str, str], data: Connection, ctrl: Connection) -> None:
    """Run ``stage`` for shard ``index`` of ``count`` on the run directory (read-only)."""
    os.environ.clear()
    os.environ.update(env)
    threading.Thread(target=_exit_when_driver_goes, args=(ctrl,), daemon=True).start()
    try:
        from judge.llm.client import Budget
        from judge.stages import generate, score
        from judge.store import RunStore

        cfg = RunConfig.model_validate_json(cfg_json)
        sinks: dict[str, PipeSink] = {}

        def sink(name: str) -> PipeSink:
            if name not in sinks:
                sinks[name] = PipeSink(data, name, cfg.flush_every)
                sinks[name].spent = lambda: ctx.budget.spent
            return sinks[name]

        ctx = RunContext(cfg, RunStore(Path(run_dir), create=False), retry_errors=retry_errors,
                         shard=(index, count), sink_factory=sink, judge_inline=judge_inline)
        ctx._budget = Budget(budget_usd, 0.0)
        try:
            res = (generate.generate if stage == "generate" else score.score)(ctx)
        finally:
            ctx.close()
        for s in sinks.values():
            s.flush()
        data.send(("done", res.as_dict(), ctx.model_stats()))
    except BaseException as err:  # noqa: BLE001 - reported to the driver, which raises
        from judge.llm.client import redact

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
            from multiprocessing import forkserver

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

    def run_stage(self, ctx: RunContext, stage: str) -> StageResult:
        """Run ``stage`` over ``worker_count`` processes; append their records as they come."""
        from judge.stages import generate, score

        t0 = time.perf_counter()
        res = StageResult(stage)
        res.planned, missing = count_missing(ctx, stage)
        res.skipped = res.planned - missing
        inline = ctx.judge_inline and stage == "generate"
        n = min(worker_count(self.cfg, stage, inline), missing)
        if n <= 1:  # nothing to call, or nothing to gain from a second process
            return (generate.generate if stage == "generate" else score.score)(ctx)
        share = None
        if self.cfg.budget_usd is not None:
            share = max(0.0, self.cfg.budget_usd - ctx.budget.spent) / n
        env = dict(os.environ)
        workers = []
        for i in range(n):
            data_r, data_w = self.mp.Pipe(duplex=False)
            ctrl_r, ctrl_w = self.mp.Pipe(duplex=False)
            cfg_json = worker_config(self.cfg, n, i).model_dump_json()
            p = self.mp.Process(target=worker_main, name=f"judge-{stage}-{i}", daemon=True,
                                args=(cfg_json, str(ctx.store.dir.resolve()), stage, i, n, share,
                                      ctx.retry_errors, inline, env, data_w, ctrl_r))
            p.start()
            data_w.close()
            ctrl_r.close()
            workers.append((p, data_r, ctrl_w))
        try:
            stats = self._collect(ctx, stage, workers, res)
        finally:
            for p, data_r, ctrl_w in workers:
                ctrl_w.close()  # a worker still running exits now
                data_r.close()
                p.join(timeout=5)
        res.extra["processes"] = {"workers": n, "model_stats": stats,
                                  "task_concurrency": {s.label: [split(s.concurrency, n, i)
                                                                 for i in range(n)]
                                                       for s in stage_models(self.cfg, stage)}}
        if stage == "score":
            res.extra.update(score.rubric_extras(self.cfg.rubrics,
                                                 score.load_rubrics(self.cfg.rubrics)))
        res.seconds = time.perf_counter() - t0
        return res

    def _collect(self, ctx: RunContext, stage: str, workers: list[tuple[Any, Connection, Any]],
                 res: StageResult) -> dict[str, dict[str, Any]]:
        """Append workers' lines until every worker has finished; merge their results.

        Lines are held back until every worker has sent its first message: a worker scans the
        output file for finished ids before it sends anything, and must not see a half-written
        line of another worker's records.
        """
        conns = {data_r: i for i, (_, data_r, _) in enumerate(workers)}
        started: set[int] = set()  # workers that have sent something
        ended: set[int] = set()  # workers that sent "done" or "error"
        held: list[tuple[str, list[str]]] = []
        spent = [0.0] * len(workers)
        stats: dict[str, dict[str, Any]] = {}
        failures: list[tuple[int, str, int]] = []
        progress = Progress(f"{stage} ({len(workers)} processes)", None, ctx.progress,
                            lambda: ctx.budget.spent + sum(spent))
        writers: dict[str, JsonlWriter] = {}
        inline = {"written": 0, "errors": 0}

        def append(name: str, lines: list[str]) -> None:
            if name not in writers:
                writers[name] = JsonlWriter(ctx.store.path(name), self.cfg.flush_every)
                if {"generations", "judgments"} <= writers.keys():  # judged inline
                    writers["judgments"].flush_first = writers["generations"]
            writers[name].write_lines(lines)

        try:
            with contextlib.ExitStack() as stack:
                stack.callback(lambda: [w.close() for w in writers.values()])
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
                        started.add(i)
                        if msg[0] == "lines":
                            _, name, lines, n_err, spent[i] = msg
                            if name == STAGE_IO[stage][1]:
                                res.written += len(lines)
                                res.errors += n_err
                            else:  # judgments made inline by generate (executor.overlap)
                                inline["written"] += len(lines)
                                inline["errors"] += n_err
                            for k in range(len(lines)):
                                progress.advance(k < n_err)
                            held.append((name, lines))
                            if len(started) == len(workers):
                                for out_name, out_lines in held:
                                    append(out_name, out_lines)
                                held = []
                            self.after_batch(i, workers[i][0].pid)
                        elif msg[0] == "done":
                            ended.add(i)
                            self._merge(ctx, res, msg[1], msg[2], stats)
                            spent[i] = 0.0
                        else:
                            ended.add(i)
                            failures.append((i, msg[1], msg[2]))
                for out_name, out_lines in held:
                    append(out_name, out_lines)
        finally:
            progress.close()
        if "judged_inline" in res.extra or inline["written"]:
            res.extra.setdefault("judged_inline", {"parse_failures": 0}).update(inline)
        if failures:
            i, msg, code = failures[0]
            err = WorkerError(f"{stage} worker {i} of {len(workers)} failed: {msg}",
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
