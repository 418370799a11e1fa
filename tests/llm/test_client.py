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
from judge.llm.sim import register

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
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdef123456")
    out = redact("Incorrect API key provided: sk-test-abcdef123456 and sk-other-zzzzzzzz")
    assert "sk-test-abcdef123456" not in out and "sk-other" not in out


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
