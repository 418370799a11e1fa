"""judge: context-specific fairness evaluation of LLMs, with calibrated LLM judges.

Public API (imported lazily so ``import judge`` stays fast)::

    judge.load(run_dir)        -> RunFrames of pandas DataFrames
    judge.load_config(path)    -> RunConfig
    judge.run(config, stages=None, force=None) -> per-stage results
"""

from __future__ import annotations

import os
from typing import Any

# litellm fetches its price map from the network at import unless told otherwise.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# litellm queues a success-logging coroutine per call (up to 50,000) until the event loop
# ends: ~2.5 KB a call. judge registers no callbacks, so a small queue loses nothing and
# keeps memory flat (10k vs 30k calls: 317 vs 322 MiB, was growing ~4.6 KB per item).
os.environ.setdefault("LOGGING_WORKER_MAX_QUEUE_SIZE", "500")

__all__ = ["load", "load_config", "run", "RunConfig", "Query", "Generation", "Judgment",
           "HumanLabel"]
__version__ = "0.1.0"


def load(run_dir: Any) -> Any:
    """Load a run directory as DataFrames (see :func:`judge.frames.load`)."""
    from judge.frames import load as _load

    return _load(run_dir)


def load_config(path: Any) -> Any:
    """Load and validate a run config YAML."""
    from judge.config import load_config as _lc

    return _lc(path)


def run(config: Any, stages: list[str] | None = None, force: list[str] | None = None,
        progress: bool = False) -> dict[str, Any]:
    """Run stages (default: all) of a config path or RunConfig; returns per-stage counts."""
    from judge.config import RunConfig, load_config
    from judge.pipeline import STAGES, needs_keys, open_run, run_stages

    cfg = config if isinstance(config, RunConfig) else load_config(config)
    stages = list(stages or STAGES)
    ctx = open_run(cfg, progress=progress, check_keys=needs_keys(stages))
    return run_stages(ctx, stages, force)


def __getattr__(name: str) -> Any:
    if name in ("Query", "Generation", "Judgment", "HumanLabel"):
        import judge.records as records

        return getattr(records, name)
    if name == "RunConfig":
        from judge.config import RunConfig

        return RunConfig
    raise AttributeError(name)
