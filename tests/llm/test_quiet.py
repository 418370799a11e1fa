"""litellm's per-call logging off-switch (``quiet_flag``) changes nothing judge records.

Every call is made twice over real HTTP against ``judge serve-sim``: once with the flag
(the default) and once without it; responses, usage, cost, attempts and error mapping
must be equal, and litellm's success-logging dispatch must run only without the flag.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

import judge.llm.client as client_mod
import judge.llm.litellm_env as env
from judge.config import ModelSpec
from judge.llm.client import CallResult, ModelClient
from judge.llm.litellm_env import get_litellm, quiet_flag
from judge.sim.faults import FaultConfig
from tests.fixtures.server import sim_server_factory  # noqa: F401

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
MSGS = [[{"role": "user", "content": f"Should I take the job offer number {i}?"}]
        for i in range(3)]


def _fields(r: CallResult) -> dict[str, Any]:
    """What a record takes from a call (latency is run-dependent and left out)."""
    d = {**r.__dict__, "usage": r.usage.model_dump(),
         "error": r.error.model_dump() if r.error else None}
    d.pop("latency_s")
    return d


def _calls(base_url: str, model: str, retries: int = 0, n: int = len(MSGS)
           ) -> list[dict[str, Any]]:
    c = ModelClient(ModelSpec(model=model, api_base=base_url, retries=retries, timeout=10))

    async def go() -> list[CallResult]:
        return [await c.complete(m, {"seed": 7}) for m in MSGS[:n]]

    results = [_fields(r) for r in asyncio.run(go())]
    stats = c.stats.as_dict()
    stats.pop("latency_s")
    return [*results, stats]


@pytest.fixture
def dispatches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts litellm's success-logging dispatches (one per call unless skipped)."""
    import litellm.utils as lu

    seen: list[int] = []
    real = lu._schedule_async_success_logging

    def spy(**kw: Any) -> None:
        seen.append(1)
        real(**kw)

    monkeypatch.setattr(lu, "_schedule_async_success_logging", spy)
    return seen


def _both(monkeypatch: pytest.MonkeyPatch, dispatches: list[int], fn: Any) -> tuple[Any, Any]:
    """``fn()`` with the flag, then without it; the flag must have skipped the dispatch."""
    assert quiet_flag() is not None  # litellm 1.110 has it, and judge registers no callbacks
    quiet = fn()
    assert dispatches == []
    with monkeypatch.context() as m:
        m.setattr(client_mod, "quiet_flag", lambda: None)
        loud = fn()
    return quiet, loud


def test_responses_usage_and_cost_unchanged(sim_server_factory, monkeypatch,  # noqa: F811
                                            dispatches):
    srv = sim_server_factory(FaultConfig(), backend="sim")
    for model in ("openai/gpt-4o-mini", "openai/generator"):  # priced, and unknown to litellm
        quiet, loud = _both(monkeypatch, dispatches, lambda m=model: _calls(srv.base_url, m))
        assert quiet == loud
        assert all(r["text"] and r["usage"]["completion_tokens"] > 0 for r in quiet[:-1])
        if model == "openai/generator":
            assert {r["cost_usd"] for r in quiet[:-1]} == {None}  # unknown, never 0
        else:
            assert all(r["cost_usd"] > 0 for r in quiet[:-1])
        assert len(dispatches) == len(MSGS)  # only the calls without the flag dispatched
        dispatches.clear()


def test_error_mapping_and_retries_unchanged(sim_server_factory, monkeypatch,  # noqa: F811
                                             dispatches):
    for faults, err_type, status in ((FaultConfig(rate_429=1.0, retry_after_s=0.05),
                                      "RateLimitError", 429),
                                     (FaultConfig(rate_500=1.0), "InternalServerError", 500)):
        srv = sim_server_factory(faults, backend="sim", name=err_type)
        quiet, loud = _both(monkeypatch, dispatches,
                            lambda u=srv.base_url: _calls(u, "openai/x", retries=1, n=1))
        assert quiet == loud
        err = quiet[0]["error"]
        assert err["type"] == err_type and err["status_code"] == status and err["retryable"]
        assert quiet[0]["attempts"] == 2 and quiet[0]["cost_usd"] is None
        assert quiet[-1]["errors"] == 1 and quiet[-1]["retries"] == 1 and quiet[-1]["calls"] == 2
    # No server at all: a refused connection, mapped the same way.
    quiet, loud = _both(monkeypatch, dispatches, lambda: _calls("http://127.0.0.1:9/v1", "openai/x", n=1))
    assert quiet == loud and quiet[0]["error"]["retryable"] and quiet[0]["text"] is None


def test_flag_unused_with_callbacks_or_without_litellm_support(monkeypatch):
    litellm = get_litellm()
    assert quiet_flag() is not None
    for name in env.CALLBACK_LISTS:
        with monkeypatch.context() as m:
            m.setattr(litellm, name, [lambda *a, **k: None])
            assert quiet_flag() is None, name  # user callbacks keep receiving every event
    import litellm._internal_context as ic

    with monkeypatch.context() as m:
        m.delattr(ic, "is_internal_call")
        m.setattr(env, "_QUIET", False)  # look it up again
        assert quiet_flag() is None
    monkeypatch.setattr(env, "_QUIET", False)
    assert quiet_flag() is ic.is_internal_call
