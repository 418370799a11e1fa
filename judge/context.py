"""RunContext: what every stage needs (config, store, clients, budget, cache)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from judge.config import ModelSpec, RunConfig, resolve_path
from judge.llm.cache import ResponseCache
from judge.llm.client import Budget, ModelClient
from judge.plugins import setup_providers
from judge.store import RunStore, summarize_records


@dataclass
class RunContext:
    cfg: RunConfig
    store: RunStore
    progress: bool = False
    retry_errors: bool = False
    judge_inline: bool = False  # generate also judges each answer (executor.overlap)
    _clients: dict[str, Any] = field(default_factory=dict)
    _providers_ready: bool = False
    _budget: Any = None
    _cache: Any = None

    @property
    def budget(self) -> Any:
        if self._budget is None:
            spent = float(summarize_records(self.store)["cost"]["total_usd"])
            self._budget = Budget(self.cfg.budget_usd, spent)
        return self._budget

    @property
    def cache(self) -> Any:
        if self._cache is None and self.cfg.cache.enabled:
            self._cache = ResponseCache(resolve_path(self.cfg.cache.dir) / "responses.sqlite")
        return self._cache

    def share_budget(self, cap_usd: float | None) -> None:
        """Spend at most ``cap_usd`` in this context (a worker's share of what the run has
        left; the driver counts what was spent before)."""
        self._budget = Budget(cap_usd, 0.0)

    def use_clients(self, clients: dict[str, Any]) -> None:
        """Stand-ins for the clients of some model labels (e.g. a failed shard's)."""
        self._clients.update(clients)

    def client(self, spec: ModelSpec) -> Any:
        """One client per model label, shared across stages (concurrency is per model)."""
        if not self._providers_ready:
            setup_providers(self.cfg, [s.model for s in self.cfg.all_models()])
            self._providers_ready = True
        key = spec.label
        if key not in self._clients:
            self._clients[key] = ModelClient(spec, budget=self.budget, cache=self.cache)
        return self._clients[key]

    def writer(self, stage: str) -> Any:
        """The run store's append-only writer for a stage file (the driver's sink)."""
        return self.store.writer(stage, self.cfg.flush_every)

    def model_stats(self) -> dict[str, dict[str, Any]]:
        return {k: c.stats.as_dict() for k, c in self._clients.items()}

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
