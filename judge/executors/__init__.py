"""Executors for the model-calling stages: where batches of tasks run.

The driver (:func:`judge.tasks.drive`) decides what is pending and writes every record;
an executor only decides where tasks run: ``local`` (this process), ``processes`` (worker
processes on this machine), ``ray`` (shard tasks on a Ray cluster, ``pip install
'judge[ray]'``), or ``auto`` (chosen per run, :func:`choose_executor`).

Importing this package does not import Ray; :func:`require_ray` does, on first use.
"""

from judge.executors.auto import (
    AUTO_MIN_GENERATIONS,
    ExecutorChoice,
    choose_executor,
    connect_executor,
)
from judge.executors.options import RAY_EXTRA_HINT, apply_executor_overrides
from judge.executors.processes import ProcessExecutor, WorkerError
from judge.executors.ray import RayExecutor, check_executor, require_ray
from judge.executors.shards import ShardPlan, plan_shards, run_shard

__all__ = ["AUTO_MIN_GENERATIONS", "ExecutorChoice", "ProcessExecutor", "RAY_EXTRA_HINT",
           "RayExecutor", "ShardPlan", "WorkerError", "apply_executor_overrides",
           "check_executor", "choose_executor", "connect_executor", "plan_shards",
           "require_ray", "run_shard"]
