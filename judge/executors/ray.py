"""Run the model-calling stages (``generate``, ``score``) as shard tasks on a Ray cluster.

Design (the numbers behind it are in docs/SCALE.md):

- **Shards.** The driver's pending tasks (:func:`judge.tasks.drive`) are split by
  ``judge.ids.shard_of(task.id, shards)``; each input line goes to the shards owning a task
  of its unit (:func:`~judge.executors.shards.plan_shards`), so a Ray task receives only
  its own inputs and the ids it runs.
- **Tasks** rebuild and run those ids with the stage's own task model on a scratch run
  store, with their own per-model concurrency (:func:`~judge.executors.shards.run_shard`).
  Workers need no shared filesystem and never touch the run directory.
- **Driver-append.** A finished task returns its records as JSON lines; the driver appends
  them to the run's JSONL in one write and fsyncs, once per shard. A killed driver or worker,
  re-run, recomputes only the records that are missing.
- **Failures.** Ray retries a failed task ``max_retries`` times; a shard that still fails
  becomes one error record per missing id (``CallError(type="ShardFailed", retryable=True)``),
  so the run goes on and a later run retries them.
- **Cluster-wide concurrency.** ``executor.model_concurrency[label]`` is divided evenly over
  the shard tasks in flight: each task gets ``cap // parallel`` calls in flight for that model
  and ``parallel`` is lowered to the smallest cap, so the cluster total never exceeds the cap.
  Per-model ``budget_usd`` is divided the same way; the run's ``budget_usd`` is handed out as
  reservations (remaining budget / free task slots) when each task is submitted.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from judge.config import ModelSpec, RunConfig
from judge.context import RunContext
from judge.errors import UsageError
from judge.executors.options import RAY_EXTRA_HINT
from judge.executors.shards import plan_shards, run_shard, task_config
from judge.llm.client import redact
from judge.records import CallError
from judge.tasks import Progress, Sink, StageResult, StageTasks, Task, stage_tasks


def require_ray() -> ModuleType:
    """Import Ray, or fail with a one-line UsageError naming the extra (exit code 2)."""
    try:
        import ray
    except ImportError as err:
        raise UsageError("the ray executor needs Ray, which is not installed",
                         field="executor.kind", hint=RAY_EXTRA_HINT) from err
    return ray


def check_executor(cfg: RunConfig) -> ModuleType:
    """Preflight for ``executor.kind: ray``: Ray importable, caps name known models."""
    ray = require_ray()
    labels = {s.label for s in cfg.all_models()}
    unknown = sorted(set(cfg.executor.model_concurrency) - labels)
    if unknown:
        raise UsageError(f"no model labelled {unknown[0]!r}", path=cfg.source_path,
                         field="executor.model_concurrency",
                         hint=f"use one of: {', '.join(sorted(labels))}")
    return ray


class RayExecutor:
    """Runs ``generate`` and ``score`` shard by shard on Ray; see the module docstring."""

    def __init__(self, cfg: RunConfig, ray: ModuleType, started: bool):
        self.cfg = cfg
        self.ray = ray
        self.started = started  # True if we started Ray here (and so shut it down)

    @classmethod
    def connect(cls, cfg: RunConfig) -> RayExecutor:
        """Join the cluster at ``executor.address`` (None starts a local one) or reuse Ray."""
        ray = check_executor(cfg)
        if ray.is_initialized():
            return cls(cfg, ray, started=False)
        try:
            ray.init(address=cfg.executor.address, include_dashboard=False,
                     log_to_driver=False, logging_level="ERROR")
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise UsageError(f"cannot connect to Ray at {cfg.executor.address!r}: "
                             f"{str(err).splitlines()[0]}", field="executor.address",
                             hint="start one with `ray start --head`, or omit the address "
                                  "to start a local cluster") from err
        return cls(cfg, ray, started=True)

    def shutdown(self) -> None:
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()

    def cluster_info(self) -> dict[str, Any]:
        """Nodes, CPUs, GPUs and Ray version, for the manifest."""
        nodes = [n for n in self.ray.nodes() if n.get("Alive")]
        res = self.ray.cluster_resources()
        return {"executor": "ray", "ray_version": self.ray.__version__,
                "address": self.ray.get_runtime_context().gcs_address,
                "nodes": len(nodes), "cpus": res.get("CPU", 0.0), "gpus": res.get("GPU", 0.0),
                "node_cpus": sorted(n["Resources"].get("CPU", 0.0) for n in nodes),
                "shards": self.cfg.executor.shards}

    def parallel(self, stage: str, shards_with_work: int) -> int:
        """Shard tasks in flight: config or cluster CPUs, at most the smallest model cap."""
        ex = self.cfg.executor
        cpus = self.ray.cluster_resources().get("CPU", 1.0)
        p = ex.parallel or max(1, int(cpus // ex.task_cpus))
        caps = [ex.model_concurrency[s.label] for s in stage_tasks(self.cfg, stage).models()
                if s.label in ex.model_concurrency]
        return max(1, min([p, max(1, shards_with_work), *caps]))

    def task_config(self, stage: str, parallel: int) -> RunConfig:
        """The config a task sees: absolute paths, and caps divided over ``parallel`` tasks."""
        ex = self.cfg.executor

        def limit(spec: ModelSpec) -> dict[str, Any]:
            upd: dict[str, Any] = {}
            if spec.label in ex.model_concurrency:
                upd["concurrency"] = max(1, ex.model_concurrency[spec.label] // parallel)
            if spec.budget_usd is not None:
                upd["budget_usd"] = spec.budget_usd / parallel
            return upd

        return task_config(self.cfg, limit)

    def after_shard(self, index: int) -> None:
        """Called after each shard's records are durably appended (a hook for tests)."""

    def run(self, ctx: RunContext, st: StageTasks, tasks: Iterator[Task],
            sinks: dict[str, Sink], result: StageResult) -> None:
        """Plan shards, run them as Ray tasks, append their records; resumable per record."""
        scratch = Path(tempfile.mkdtemp(prefix=f".ray-{st.name}-", dir=ctx.store.dir))
        try:
            plan = plan_shards(ctx.store, st, tasks, self.cfg.executor.shards, scratch)
            parallel = self.parallel(st.name, len(plan.pending))
            tcfg = self.task_config(st.name, parallel)
            info = self._run_tasks(ctx, st, plan, parallel, tcfg.model_dump_json(),
                                   sinks[st.output], result)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        result.extra["ray"] = {"shards": plan.shards, "shards_run": len(plan.pending),
                               "parallel": parallel, **info,
                               "task_concurrency": {s.label: s.concurrency
                                                    for s in stage_tasks(tcfg, st.name).models()}}

    def _run_tasks(self, ctx: RunContext, st: StageTasks, plan: Any, parallel: int,
                   cfg_json: str, out: Sink, res: StageResult) -> dict[str, Any]:
        ray, ex = self.ray, self.cfg.executor
        remote = ray.remote(run_shard).options(max_retries=ex.max_retries,
                                               retry_exceptions=True, num_cpus=ex.task_cpus)
        queue = sorted(plan.pending)
        in_flight: dict[Any, tuple[int, float]] = {}
        failed: list[dict[str, Any]] = []
        stats: dict[str, dict[str, Any]] = {}
        nodes: set[str] = set()
        progress = Progress(f"{st.name} (ray)", sum(plan.pending.values()), ctx.progress,
                            lambda: ctx.budget.spent)
        rubric_hashes = st.facts().get("rubrics")

        def submit(i: int) -> None:
            share = self._budget_share(ctx, [s for _, s in in_flight.values()], parallel)
            args = (cfg_json, st.name, i, plan.shards, plan.files(i), plan.assigned(i), share,
                    ctx.retry_errors)
            ref = remote.remote(*args, rubric_hashes=rubric_hashes)
            in_flight[ref] = (i, share or 0.0)

        try:
            while queue or in_flight:
                while queue and len(in_flight) < parallel and not res.stopped:
                    submit(queue.pop(0))
                if not in_flight:
                    break
                [ref], _ = ray.wait(list(in_flight), num_returns=1)
                i, _share = in_flight.pop(ref)
                try:
                    got = ray.get(ref)
                except ray.exceptions.RayError as err:
                    got = self._fail_shard(st.name, i, plan, cfg_json, ctx, err)
                    failed.append({"shard": i, "error": got["error"]})
                out.write_lines(got["lines"])
                out.flush()  # durably appended, shard by shard
                self._merge(ctx, res, got, stats, progress)
                nodes.add(got.get("node", "driver"))
                self.after_shard(i)
        finally:
            progress.close()
        return {"failed_shards": failed, "model_stats": stats, "task_nodes": sorted(nodes)}

    def _budget_share(self, ctx: RunContext, reserved: list[float], parallel: int
                      ) -> float | None:
        """The budget a new task may spend: what is left after reservations, per free slot."""
        if self.cfg.budget_usd is None:
            return None
        left = self.cfg.budget_usd - ctx.budget.spent - sum(reserved)
        return max(0.0, left) / max(1, parallel - len(reserved))

    def _fail_shard(self, stage: str, i: int, plan: Any, cfg_json: str, ctx: RunContext,
                    err: BaseException) -> dict[str, Any]:
        """Error records (ShardFailed, retryable) for every missing id of a dead shard."""
        first = (str(err).strip().splitlines() or [""])[-1]
        msg = (f"shard {i}/{plan.shards} of {stage} failed after "
               f"{self.cfg.executor.max_retries} retries: {type(err).__name__}: {first}")
        ce = CallError(type="ShardFailed", message=redact(msg)[:2000], retryable=True)
        got = run_shard(cfg_json, stage, i, plan.shards, plan.files(i), plan.assigned(i), None,
                        ctx.retry_errors, fail_with=ce.model_dump())
        got["node"], got["error"] = "driver", ce.message
        return got

    @staticmethod
    def _merge(ctx: RunContext, res: StageResult, got: dict[str, Any],
               stats: dict[str, dict[str, Any]], progress: Progress) -> None:
        r = got["result"]
        res.written += r["written"]
        res.errors += r["errors"]
        res.parse_failures += r.get("parse_failures", 0)
        res.stopped = res.stopped or r["stopped"]
        for label, st in got["stats"].items():
            agg = stats.setdefault(label, {})
            for k, v in st.items():
                agg[k] = agg.get(k, 0) + v
            ctx.budget.add(st.get("cost_usd"))
        for _ in range(r["written"]):
            progress.advance()

