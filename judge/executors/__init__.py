"""Executors for the model-calling stages. ``local`` is the in-process default; ``ray``
spreads shards of a stage over a Ray cluster (``pip install 'judge[ray]'``).

Importing this package does not import Ray; :func:`require_ray` does, on first use.
"""

from judge.executors.options import RAY_EXTRA_HINT, apply_executor_overrides
from judge.executors.ray import RayExecutor, check_executor, require_ray
from judge.executors.shards import ShardPlan, plan_shards, run_shard

__all__ = ["RAY_EXTRA_HINT", "RayExecutor", "ShardPlan", "apply_executor_overrides", "check_executor",
           "plan_shards", "require_ray", "run_shard"]
