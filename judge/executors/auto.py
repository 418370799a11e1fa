"""Which executor a run uses: the configured one, or for ``executor.kind: auto`` the fastest
for this run (measured in docs/BENCHMARKS.md).

- every model served in-process by a plugin (the sim world): ``local`` (worker processes
  would only add their start-up; the calls cost no network time);
- fewer than :data:`AUTO_MIN_GENERATIONS` generations to make: ``local`` (the worker
  processes' start-up, ~2-3 s for litellm's import, is not paid back);
- otherwise (a large run against HTTP endpoints): ``processes`` with ``overlap``, because
  litellm spends milliseconds of CPU per call and one process saturates long before the
  network does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from judge.config import RunConfig
from judge.executors.processes import ProcessExecutor
from judge.executors.ray import RayExecutor
from judge.plugins import for_provider
from judge.store import RunStore, count_lines
from judge.tasks import LocalExecutor

AUTO_MIN_GENERATIONS = 500


@dataclass(frozen=True)
class ExecutorChoice:
    """The executor a run uses, whether it judges inline, and why."""

    kind: str
    overlap: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_executor(cfg: RunConfig, store: RunStore, stages: list[str]) -> ExecutorChoice:
    """The executor for the model-calling stages of this invocation (see module doc)."""
    ex = cfg.executor
    both = {"generate", "score"} <= set(stages)
    if ex.kind != "auto":
        overlap = bool(ex.overlap) and ex.kind != "ray" and both
        return ExecutorChoice(ex.kind, overlap, "configured")
    providers = {s.provider for s in cfg.generators + cfg.judges}
    if all(for_provider(p) is not None for p in providers):
        return ExecutorChoice("local", bool(ex.overlap) and both,
                              "auto: every model is served in-process by a plugin")
    generations = count_lines(store.path("queries")) * sum(g.samples for g in cfg.generators)
    if generations < AUTO_MIN_GENERATIONS:
        return ExecutorChoice("local", bool(ex.overlap) and both,
                              f"auto: {generations} generations < {AUTO_MIN_GENERATIONS}")
    overlap = both if ex.overlap is None else bool(ex.overlap) and both
    return ExecutorChoice("processes", overlap,
                          f"auto: {generations} generations against network endpoints")


def connect_executor(cfg: RunConfig, kind: str) -> Any:
    """Start the executor of ``kind`` (``local``, ``processes``, ``ray``)."""
    if kind == "ray":
        return RayExecutor.connect(cfg)  # UsageError naming the extra if no Ray
    if kind == "processes":
        return ProcessExecutor.connect(cfg)

    return LocalExecutor()
