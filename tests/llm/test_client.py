import asyncio

import httpx
import pytest

from judge.config import ModelSpec
from judge.llm.cache import ResponseCache
from judge.llm.client import (
    Budget,
    BudgetExhausted,
    ModelClient,
    check_credentials,
    is_retryable,
    redact,
    retry_after_s,
)
from judge.llm.litellm_env import get_litellm
from judge.sim.provider import register

MSG = [{"role": "user", "content": "Should I get a car loan? Answer yes or no."}]


def _exc(name: str, status: int, headers: dict | None = None):
    litellm = get_litellm()
    resp = httpx.Response(status, headers=headers or {},
                          request=httpx.Request("POST", "http://x"))
    cls = getattr(litellm, name)
    return cls(message="boom", llm_provider="openai", model="m", response=resp)


def test_error_classification_uses_real_litellm_exceptions():
    assert is_retryable(_exc("RateLimitError", 429))
    assert is_retryable(_exc("InternalServerError", 500))
    assert is_retryable(_exc("ServiceUnavailableError", 503))
    assert not is_retryable(_exc("AuthenticationError", 401))
    assert not is_retryable(_exc("BadRequestError", 400))


def test_retry_after_header_is_read():
    assert retry_after_s(_exc("RateLimitError", 429, {"Retry-After": "2"})) == 2.0
    assert retry_after_s(_exc("RateLimitError", 429)) is None


def test_redact_removes_keys(monkeypatch):
    import secrets

    key, other = "sk-test-" + secrets.token_hex(6), "sk-other-" + secrets.token_hex(4)
    monkeypatch.setenv("OPENAI_API_KEY", key)
    out = redact(f"Incorrect API key provided: {key} and {other}")
    assert key not in out and "sk-other" not in out


def test_missing_api_key_names_the_env_var(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    from judge.errors import ConfigError

    with pytest.raises(ConfigError, match="OPENAI_API_KEY") as e:
        check_credentials(ModelSpec(model="openai/gpt-4o-mini"))
    assert e.value.exit_code == 2
    check_credentials(ModelSpec(model="openai/x", api_base="http://127.0.0.1:9"))  # no key needed
    check_credentials(ModelSpec(model="sim/generator"))


def test_sim_call_goes_through_litellm_with_usage_and_zero_cost():
    register()
    c = ModelClient(ModelSpec(model="sim/generator"))
    r = asyncio.run(c.complete(MSG, {"seed": 3}))
    assert r.ok, r.error
    assert r.text.startswith("Decision: ") and r.usage.prompt_tokens > 0
    from judge.llm.client import call_cost

    assert r.cost_usd == call_cost("sim/generator", r.usage) and c.stats.calls == 1
    r2 = asyncio.run(c.complete(MSG, {"seed": 3}))
    assert r2.text == r.text  # deterministic given messages and seed


def test_cache_hit_makes_no_call(tmp_path):
    register()
    cache = ResponseCache(tmp_path / "c.sqlite")
    c = ModelClient(ModelSpec(model="sim/generator"), cache=cache)
    a = asyncio.run(c.complete(MSG, {"seed": 1}, sample=0))
    b = asyncio.run(c.complete(MSG, {"seed": 1}, sample=0))
    d = asyncio.run(c.complete(MSG, {"seed": 1}, sample=0, use_cache=False))
    assert b.cached and not a.cached and not d.cached and a.text == b.text
    assert b.cost_usd == a.cost_usd  # a replayed answer keeps its price (None if unknown)
    assert c.stats.calls == 2 and c.stats.cached == 1


def test_budget_stops_before_calling():
    register()
    b = Budget(0.5, spent_usd=0.5)
    c = ModelClient(ModelSpec(model="sim/generator"), budget=b)
    with pytest.raises(BudgetExhausted):
        asyncio.run(c.complete(MSG))
    assert c.stats.calls == 0 and b.stopped


def test_retry_wait_honours_retry_after_else_backs_off():
    from judge.llm.client import retry_wait_s

    assert retry_wait_s(_exc("RateLimitError", 429, {"Retry-After": "3"}), 1) == 3.0
    err = _exc("InternalServerError", 500)
    for attempt, low in ((1, 0.5), (2, 1.0), (3, 2.0), (9, 30.0)):
        waits = [retry_wait_s(err, attempt) for _ in range(50)]
        assert all(low <= w <= min(30.0, low + 1.0) for w in waits), (attempt, waits[:3])
    assert len({retry_wait_s(err, 1) for _ in range(20)}) > 1  # jittered


def test_cost_prefers_litellm_price_and_remembers_unpriced_models(monkeypatch):
    import judge.llm.client as cm
    from judge.records import Usage

    u = Usage(prompt_tokens=1000, completion_tokens=500)
    litellm = get_litellm()
    a, b = litellm.cost_per_token(model="openai/gpt-4o-mini", prompt_tokens=1000,
                                  completion_tokens=500)
    assert cm.call_cost("openai/gpt-4o-mini", u) == float(a + b)
    # litellm's own price for the response wins (it knows cached tokens etc.); the spec's
    # own prices and sim rates still come first.
    assert cm.call_cost("openai/gpt-4o-mini", u, priced=0.125) == 0.125
    spec = ModelSpec(model="openai/gpt-4o-mini", input_cost_per_mtok=2.0,
                     output_cost_per_mtok=0.0)
    assert cm.call_cost(spec.model, u, spec, priced=0.125) == pytest.approx(0.002)
    # A model litellm cannot price is looked up once (None = unknown, never 0) ...
    calls = []
    real = litellm.cost_per_token
    monkeypatch.setattr(litellm, "cost_per_token", lambda **kw: calls.append(1) or real(**kw))
    monkeypatch.setattr(cm, "_UNPRICED", {})
    assert [cm.call_cost("openai/no-such-model-x", u) for _ in range(3)] == [None] * 3
    assert len(calls) == 1
    # ... until the price map grows (register_model), then it is asked again.
    monkeypatch.setitem(litellm.model_cost, "openai/no-such-model-x", {
        "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "litellm_provider": "openai",
        "mode": "chat"})
    assert cm.call_cost("openai/no-such-model-x", u) == pytest.approx(0.002)
    assert len(calls) == 2


def test_litellm_price_reads_only_finite_numbers():
    from types import SimpleNamespace

    from judge.llm.client import litellm_price

    def resp(cost):
        return SimpleNamespace(_hidden_params={"response_cost": cost})

    assert litellm_price(resp(0.5)) == 0.5 and litellm_price(resp(0)) == 0.0
    for bad in (None, float("nan"), float("inf"), True, "0.1"):
        assert litellm_price(resp(bad)) is None
    assert litellm_price(SimpleNamespace()) is None


def test_cache_replays_litellm_price(tmp_path, monkeypatch):
    import judge.llm.client as cm

    cache = ResponseCache(tmp_path / "c.sqlite")
    c = ModelClient(ModelSpec(model="openai/gpt-4o-mini"), cache=cache)

    class Resp:
        choices = [type("C", (), {"message": type("M", (), {"content": "hi"})(),
                                  "finish_reason": "stop"})()]
        usage = type("U", (), {"prompt_tokens": 10, "completion_tokens": 5})()
        _hidden_params = {"response_cost": 0.0421}

    async def fake(**kw):
        return Resp()

    monkeypatch.setattr(get_litellm(), "acompletion", fake)
    a = asyncio.run(c.complete(MSG))
    b = asyncio.run(c.complete(MSG))
    assert not a.cached and b.cached and a.cost_usd == b.cost_usd == 0.0421
    assert c.stats.cost_usd == 0.0421 and cm.call_cost("openai/gpt-4o-mini", b.usage) != 0.0421
