"""Executors for the model-calling stages. ``local`` is the in-process default; ``processes``
runs shards of a stage in worker processes on this machine; ``ray`` spreads shards over a Ray
cluster (``pip install 'judge[ray]'``).

Importing this package does not import Ray; :func:`require_ray` does, on first use.
"""

from judge.executors.options import RAY_EXTRA_HINT, apply_executor_overrides
from judge.executors.processes import ProcessExecutor, WorkerError
from judge.executors.ray import RayExecutor, check_executor, require_ray
from judge.executors.shards import ShardPlan, plan_shards, run_shard

__all__ = ["RAY_EXTRA_HINT", "ProcessExecutor", "RayExecutor", "ShardPlan", "WorkerError",
           "apply_executor_overrides", "check_executor", "plan_shards", "require_ray",
           "run_shard"]
