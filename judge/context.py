"""RunContext: what every stage needs (config, store, clients, budget, cache)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from judge.config import ModelSpec, RunConfig, resolve_path
from judge.store import RunStore


@dataclass
class RunContext:
    cfg: RunConfig
    store: RunStore
    progress: bool = False
    retry_errors: bool = False
    shard: tuple[int, int] | None = None  # (index, count): only ids with shard_of(id) == index
    sink_factory: Any = None  # stage -> writer-like object; default: the run store's JSONL
    judge_inline: bool = False  # generate also judges each answer (executor.overlap)
    _clients: dict[str, Any] = field(default_factory=dict)
    _budget: Any = None
    _cache: Any = None

    @property
    def budget(self) -> Any:
        from judge.llm.client import Budget

        if self._budget is None:
            from judge.pipeline import summarize_records

            spent = float(summarize_records(self.store)["cost"]["total_usd"])
            self._budget = Budget(self.cfg.budget_usd, spent)
        return self._budget

    @property
    def cache(self) -> Any:
        if self._cache is None and self.cfg.cache.enabled:
            from judge.llm.cache import ResponseCache

            self._cache = ResponseCache(resolve_path(self.cfg.cache.dir) / "responses.sqlite")
        return self._cache

    def client(self, spec: ModelSpec) -> Any:
        """One client per model label, shared across stages (concurrency is per model)."""
        from judge.llm.client import ModelClient

        if any(s.provider == "sim" for s in self.cfg.all_models()):
            from judge.llm.sim import register

            register(self.cfg.sim_profile_path,
                     [s.model for s in self.cfg.all_models() if s.provider == "sim"])
        key = spec.label
        if key not in self._clients:
            self._clients[key] = ModelClient(spec, budget=self.budget, cache=self.cache)
        return self._clients[key]

    def in_shard(self, record_id: str) -> bool:
        """True if this context's shard owns ``record_id`` (always, when unsharded)."""
        if self.shard is None:
            return True
        from judge.ids import shard_of

        return shard_of(record_id, self.shard[1]) == self.shard[0]

    def writer(self, stage: str) -> Any:
        """Where a stage's records go: the run store, or a sink (e.g. a Ray task's buffer)."""
        if self.sink_factory is not None:
            return self.sink_factory(stage)
        return self.store.writer(stage, self.cfg.flush_every)

    def model_stats(self) -> dict[str, dict[str, Any]]:
        return {k: c.stats.as_dict() for k, c in self._clients.items()}

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
