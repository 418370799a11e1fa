"""Executor options from the command line, applied over a loaded run config (no Ray import)."""

from __future__ import annotations

from pydantic import ValidationError

from judge.config import ExecutorConfig, RunConfig
from judge.errors import UsageError

RAY_EXTRA_HINT = "install the extra: pip install 'judge[ray]'"


def apply_executor_overrides(cfg: RunConfig, executor: str | None = None,
                             address: str | None = None, shards: int | None = None,
                             workers: int | None = None) -> RunConfig:
    """``cfg`` with ``--executor/--address/--shards/--workers`` applied; None leaves a setting
    as is.

    ``--address`` and ``--shards`` only mean something for the ray executor, so giving them
    while the effective executor is local is a UsageError rather than a silent no-op.
    """
    data = cfg.executor.model_dump()
    if executor is not None:
        data["kind"] = executor
    if address is not None:
        data["address"] = address
    if shards is not None:
        data["shards"] = shards
    if workers is not None:
        data["workers"] = workers
    try:
        ex = ExecutorConfig.model_validate(data)
    except ValidationError as err:
        e = err.errors()[0]
        field = {"kind": "--executor", "shards": "--shards", "address": "--address",
                 "workers": "--workers"}.get(str(e["loc"][0]), str(e["loc"][0]))
        raise UsageError(f"{e['msg']} (got {e.get('input')!r})", field=field,
                         hint="use --executor auto|local|processes|ray, --shards N and --workers N "
                              "with N >= 1") from err
    if ex.kind != "ray" and (address is not None or shards is not None):
        raise UsageError("--address and --shards apply only to the ray executor",
                         field="--executor", hint="add --executor ray")
    if ex.kind not in ("processes", "auto") and workers is not None:
        raise UsageError("--workers applies only to the processes executor",
                         field="--executor", hint="add --executor processes")
    out = cfg.model_copy(update={"executor": ex})
    out.source_path = cfg.source_path
    return out
