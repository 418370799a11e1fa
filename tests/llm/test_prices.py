"""Prices handed to litellm with each call (``ModelClient.price_kwargs``).

litellm prices every response itself; these tests check, over real HTTP against
``judge serve-sim``, that passing it prices changes no recorded cost: the spec's own prices
give litellm the same cost as ours, and a model litellm cannot price stays "cost unknown"
(None, never 0) although litellm is then handed a placeholder. litellm's price map is never
changed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import judge.llm.client as cm
from judge.config import ModelSpec
from judge.llm.cache import ResponseCache
from judge.llm.client import PLACEHOLDER_PRICE, ModelClient
from judge.llm.litellm_env import get_litellm
from judge.records import Usage
from judge.sim.faults import FaultConfig
from tests.fixtures.server import sim_server_factory  # noqa: F401

MSGS = [[{"role": "user", "content": f"Should I accept loan offer {i}?"}] for i in range(3)]


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], Any]]:
    """(kwargs, response) of every real ``litellm.acompletion`` call."""
    litellm = get_litellm()
    real = litellm.acompletion
    calls: list[tuple[dict[str, Any], Any]] = []

    async def watch(**kw: Any) -> Any:
        resp = await real(**kw)
        calls.append((kw, resp))
        return resp

    monkeypatch.setattr(litellm, "acompletion", watch)
    monkeypatch.setattr(cm, "_UNPRICED", {})
    return calls


def _run(client: ModelClient, n: int = len(MSGS)) -> list[cm.CallResult]:
    async def go() -> list[cm.CallResult]:
        return [await client.complete(m) for m in MSGS[:n]]  # one after another

    return asyncio.run(go())


def test_spec_prices_reach_litellm_and_give_the_same_cost(sim_server_factory, seen):  # noqa: F811
    srv = sim_server_factory(FaultConfig(), backend="sim")
    spec = ModelSpec(model="openai/generator", api_base=srv.base_url,
                     input_cost_per_mtok=2.0, output_cost_per_mtok=8.0)
    results = _run(ModelClient(spec))
    assert all(r.ok and r.cost_usd and r.cost_usd > 0 for r in results)
    for (kw, resp), r in zip(seen, results):
        assert kw["input_cost_per_token"] == pytest.approx(2e-6)
        assert kw["output_cost_per_token"] == pytest.approx(8e-6)
        # litellm computed exactly what judge records
        assert resp._hidden_params["response_cost"] == pytest.approx(r.cost_usd, rel=1e-9)
        assert r.cost_usd == pytest.approx((r.usage.prompt_tokens * 2
                                            + r.usage.completion_tokens * 8) / 1e6)


def test_unpriced_model_gets_a_placeholder_and_its_cost_stays_unknown(
        sim_server_factory, seen, tmp_path):  # noqa: F811
    srv = sim_server_factory(FaultConfig(), backend="sim")
    litellm = get_litellm()
    n_prices = len(litellm.model_cost)
    client = ModelClient(ModelSpec(model="openai/generator", api_base=srv.base_url),
                         cache=ResponseCache(tmp_path / "cache.sqlite"))
    results = _run(client)
    # The first call finds no price (one lookup); the next ones pass the placeholder.
    assert "input_cost_per_token" not in seen[0][0]
    assert seen[0][1]._hidden_params.get("response_cost") is None
    for kw, resp in seen[1:]:
        assert kw["input_cost_per_token"] == kw["output_cost_per_token"] == PLACEHOLDER_PRICE
        assert resp._hidden_params["response_cost"] > 0  # litellm priced the placeholder ...
    assert [r.cost_usd for r in results] == [None] * len(MSGS)  # ... judge did not use it
    assert client.stats.cost_unknown_calls == len(MSGS) and client.stats.cost_usd == 0.0
    assert len(litellm.model_cost) == n_prices and "openai/generator" not in litellm.model_cost
    # A cached replay keeps the cost unknown: the placeholder was never stored as a price.
    replay = _run(client, 2)
    assert all(r.cached for r in replay) and [r.cost_usd for r in replay] == [None, None]
    assert len(seen) == len(MSGS)


def test_no_placeholder_for_priced_models_or_with_callbacks(monkeypatch):
    litellm = get_litellm()
    monkeypatch.setattr(cm, "_UNPRICED", {})
    assert ModelClient(ModelSpec(model="openai/gpt-4o-mini")).price_kwargs() == {}
    unpriced = ModelClient(ModelSpec(model="openai/no-such-model-y", api_base="http://x"))
    assert unpriced.price_kwargs() == {}  # not looked up yet
    assert cm.call_cost("openai/no-such-model-y", Usage(prompt_tokens=1)) is None
    assert set(unpriced.price_kwargs().values()) == {PLACEHOLDER_PRICE}
    # A user's litellm callback would see the placeholder cost: then litellm searches.
    monkeypatch.setattr(litellm, "success_callback", [lambda *a, **k: None])
    assert unpriced.price_kwargs() == {}
