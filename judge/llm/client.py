"""The one place that calls ``litellm.acompletion``.

Per-model concurrency, retries (tenacity's exponential backoff with jitter, honouring
Retry-After) on rate limits, 5xx, timeouts and connection errors; non-retryable errors
become :class:`~judge.records.CallError` values, never crashes. Usage and cost come from
litellm; a budget cap stops new calls (raising :class:`BudgetExhausted`) so the run can
resume later. Secrets are read from the environment at call time and never stored.

This is the hot path of every model-calling stage (thousands of calls a second of CPU
matter): the first attempt runs without any retry machinery, and a price litellm already
computed for the response is reused rather than looked up again. litellm prices every
response itself; for a model it has no price for (typically behind ``api_base``) that is a
search over its whole price map on every call (~0.3 ms), so each call passes litellm the
prices it needs (see :meth:`ModelClient.price_kwargs`): 0.3 to 0.6 ms of CPU less a call.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from tenacity import wait_exponential_jitter

from judge.config import (
    ModelSpec,
    redact_values,
    register_secret_env,
)
from judge.config import redact as _redact
from judge.errors import ConfigError
from judge.llm.cache import ResponseCache, cache_key
from judge.llm.litellm_env import get_litellm, quiet_flag
from judge.plugins import for_provider
from judge.records import CallError, Usage

RETRYABLE = ("RateLimitError", "InternalServerError", "ServiceUnavailableError",
             "BadGatewayError", "Timeout", "APIConnectionError", "APIError")
MAX_RETRY_AFTER_S = 120.0
#: USD per token handed to litellm for a model it cannot price; its cost is then ignored.
PLACEHOLDER_PRICE = 1e-15
SECRET_RX = re.compile(r"(sk-[A-Za-z0-9_\-]{6,}|sk-ant-[A-Za-z0-9_\-]{6,})")
#: CallError.kind values: what a user can do about a failed call differs by kind.
ERROR_KINDS = ("connection", "auth", "validation", "rate_limit", "timeout", "server",
               "budget", "other")


class BudgetExhausted(Exception):
    """The run's (or a model's) budget cap is reached: stop scheduling, resume later."""


def redact(text: str) -> str:
    """Remove secrets from a message: the value of every key variable the run reads
    (registered ``api_key_env`` names, whatever they are called, and provider key
    variables), URL userinfo, bearer tokens and key-shaped strings."""
    return SECRET_RX.sub("<redacted>", _redact(text))


def _causes(err: BaseException) -> list[BaseException]:
    """``err`` and its chain of causes (litellm wraps the transport error several times)."""
    out: list[BaseException] = []
    e: BaseException | None = err
    while e is not None and len(out) < 12 and e not in out:
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


_CONNECT_NAMES = ("ConnectError", "ConnectionRefusedError", "ClientConnectorError",
                  "ConnectionResetError", "RemoteProtocolError", "gaierror", "ConnectTimeout")


def error_kind(err: BaseException) -> str:
    """Classify a failed call: connection, auth, validation, rate_limit, timeout, server, other.

    Looks through the cause chain, so a refused connection that litellm reports as
    ``InternalServerError`` (500) is a connection error.
    """
    chain = _causes(err)
    names = {type(e).__name__ for e in chain}
    if names & set(_CONNECT_NAMES) or any(isinstance(e, ConnectionError) for e in chain):
        return "connection"
    if names & {"Timeout", "TimeoutError", "ReadTimeout", "APITimeoutError"} or any(
            isinstance(e, asyncio.TimeoutError) for e in chain):
        return "timeout"
    status = getattr(err, "status_code", None)
    name = type(err).__name__
    if name in ("AuthenticationError", "PermissionDeniedError") or status in (401, 403):
        return "auth"
    if name == "RateLimitError" or status == 429:
        return "rate_limit"
    if name in ("BadRequestError", "UnprocessableEntityError", "NotFoundError",
                "ContextWindowExceededError", "UnsupportedParamsError",
                "ContentPolicyViolationError") or (isinstance(status, int)
                                                   and 400 <= status < 500):
        return "validation"
    if name == "APIConnectionError":
        return "connection"
    if name in RETRYABLE or (isinstance(status, int) and status >= 500):
        return "server"
    return "other"


def call_error(err: BaseException) -> CallError:
    """The record of a failed call: its kind, a redacted one-line message, no secrets."""
    kind = error_kind(err)
    message = redact(str(err))[:2000]
    status = getattr(err, "status_code", None)
    if kind == "connection":
        root = _causes(err)[-1]
        message = redact(f"connection error: the endpoint could not be reached "
                         f"({type(root).__name__}: {root}); is the server running?")[:2000]
        status = None
    return CallError(type=type(err).__name__, kind=kind, message=message,
                     retryable=is_retryable(err), status_code=status)


def is_retryable(err: BaseException) -> bool:
    name = type(err).__name__
    if name == "APIError":
        return (getattr(err, "status_code", 0) or 0) >= 500
    return name in RETRYABLE or isinstance(err, (asyncio.TimeoutError, ConnectionError))


#: What a server's error body says when it rejects the request itself (pydantic/FastAPI,
#: OpenAI, vLLM, llama.cpp wording), even when it sends that as HTTP 500.
VALIDATION_RX = re.compile(
    r"validation error|\b(?:literal|missing|extra_forbidden|value|type|enum)_error\b|"
    r"input should be|field required|extra inputs are not permitted|unprocessable entity|"
    r"invalid_request_error|unsupported response_format|response_format.{0,40}(?:not "
    r"supported|invalid|must be)", re.IGNORECASE)


def is_validation_error(err: Any) -> bool:
    """True if the server rejected the request as invalid: HTTP 400 or 422, or a 500 whose
    body is a validation error (llama-cpp-python's server sends request validation errors
    as 500). Resending the same request cannot help: never retried.

    ``err`` is an exception or a :class:`~judge.records.CallError`.
    """
    if err is None:
        return False
    status = getattr(err, "status_code", None) or 0
    if status in (400, 422):
        return True
    if status and status != 500:
        return False
    text = getattr(err, "message", None) if not isinstance(err, BaseException) else None
    return bool(VALIDATION_RX.search(text if isinstance(text, str) else str(err)))


def retry_after_s(err: BaseException) -> float | None:
    """Seconds from a Retry-After header on a litellm exception, if any."""
    for headers in (getattr(err, "litellm_response_headers", None),
                    getattr(getattr(err, "response", None), "headers", None)):
        if not headers:
            continue
        try:
            val = headers.get("retry-after") or headers.get("Retry-After")
        except AttributeError:
            continue
        if val is not None:
            try:
                return min(MAX_RETRY_AFTER_S, max(0.0, float(val)))
            except ValueError:
                return None
    return None


# 0.5 s, 1 s, 2 s, ... (+ up to 1 s jitter), at most 30 s.
_BACKOFF = wait_exponential_jitter(multiplier=0.5, max=30.0)


@dataclass(frozen=True)
class _Attempt:
    """The one field of tenacity's ``RetryCallState`` its wait strategies read."""

    attempt_number: int


def retry_wait_s(err: BaseException, attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): Retry-After if
    the error carries one, else exponential backoff with jitter."""
    ra = retry_after_s(err)
    return ra if ra is not None else _BACKOFF(_Attempt(attempt))  # type: ignore[arg-type]


@dataclass
class CallResult:
    """What one logical call produced (after retries)."""

    text: str | None = None
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = 0.0
    error: CallError | None = None
    attempts: int = 0
    latency_s: float = 0.0
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ModelStats:
    calls: int = 0
    ok: int = 0
    errors: int = 0
    retries: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_unknown_calls: int = 0
    latency_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Budget:
    """A USD cap shared by all clients of a run (``None`` = no cap)."""

    def __init__(self, cap_usd: float | None, spent_usd: float = 0.0):
        self.cap = cap_usd
        self.spent = spent_usd
        self.stopped = False

    def check(self) -> None:
        if self.cap is not None and self.spent >= self.cap:
            self.stopped = True
            raise BudgetExhausted(f"budget cap ${self.cap:.4f} reached (spent ${self.spent:.4f})")

    def add(self, cost: float | None) -> None:
        if cost:
            self.spent += cost


# litellm provider prefixes accepted without importing litellm (which costs seconds), so a
# re-run with nothing left to call never imports it. Other prefixes are asked of litellm.
KNOWN_PROVIDERS = frozenset({
    "openai", "azure", "anthropic", "ollama", "ollama_chat", "hosted_vllm", "vllm", "gemini",
    "vertex_ai", "mistral", "groq", "together_ai", "cohere", "bedrock", "openrouter",
    "deepseek", "fireworks_ai", "xai", "perplexity", "huggingface", "lm_studio", "llamafile"})


def check_credentials(spec: ModelSpec) -> None:
    """Fail before any work if a model's API key is missing (names the env var only)."""
    register_secret_env(spec.api_key_env)  # its value is redacted from everything, from now
    if plugin_provider(spec.provider):
        return  # served by a plugin (e.g. the sim world): no key
    if not ("/" in spec.model and spec.provider in KNOWN_PROVIDERS):
        try:
            get_litellm().get_llm_provider(spec.model)
        except Exception as err:  # noqa: BLE001 - litellm raises BadRequestError here
            raise ConfigError("unknown model provider", field=f"model {spec.model}",
                              hint="use a litellm model string such as openai/gpt-4o-mini, "
                                   "anthropic/..., ollama/..., hosted_vllm/...") from err
    if spec.api_key_env:
        if not os.environ.get(spec.api_key_env):
            raise ConfigError(f"environment variable {spec.api_key_env} is not set",
                              field=f"model {spec.model}", hint="export it, then re-run")
        return
    if spec.api_base:
        return  # local OpenAI-compatible servers usually need no key
    try:
        env = get_litellm().validate_environment(spec.model)
    except Exception as err:  # noqa: BLE001 - unknown provider strings raise here
        raise ConfigError(f"unknown model or provider: {err}", field=f"model {spec.model}",
                          hint="use a litellm model string such as openai/gpt-4o-mini") from err
    missing = env.get("missing_keys") or []
    if missing:
        raise ConfigError(f"missing API key: set {', '.join(missing)}",
                          field=f"model {spec.model}", hint="export it, then re-run")


def call_cost(model: str, usage: Usage, spec: ModelSpec | None = None,
              priced: float | None = None) -> float | None:
    """USD cost; ``None`` if unknown (never 0 for unknown).

    In order: the spec's own prices; a plugin provider's per-token rates (looked up once:
    they are linear by construction); ``priced``, the cost
    litellm already computed for this response (``_hidden_params["response_cost"]``, which
    knows cached tokens and provider-reported costs); else litellm's price map.
    """
    if spec is not None and spec.input_cost_per_mtok is not None:
        return (usage.prompt_tokens * spec.input_cost_per_mtok
                + usage.completion_tokens * (spec.output_cost_per_mtok or 0.0)) / 1e6
    if "/" in model and plugin_provider(model.split("/", 1)[0]):
        rate_in, rate_out = _plugin_rates(model)
        return usage.prompt_tokens * rate_in + usage.completion_tokens * rate_out
    if priced is not None:
        return priced
    litellm = get_litellm()
    # litellm walks an expensive generalisation search for a model it cannot price: do
    # that once per model (and again only if the price map grows, e.g. register_model).
    n_prices = len(litellm.model_cost)
    if _UNPRICED.get(model) == n_prices:
        return None
    try:
        a, b = litellm.cost_per_token(model=model, prompt_tokens=usage.prompt_tokens,
                                      completion_tokens=usage.completion_tokens)
        return float(a + b)
    except Exception:  # noqa: BLE001 - litellm raises several types for unmapped models
        _UNPRICED[model] = n_prices
        return None


def is_unpriced(model: str) -> bool:
    """True once litellm's price map was found to have no price for ``model`` (and has not
    grown since)."""
    if model not in _UNPRICED:
        return False
    return _UNPRICED[model] == len(get_litellm().model_cost)


def litellm_price(resp: Any) -> float | None:
    """The USD cost litellm computed for a response, if it is a finite number."""
    hidden = getattr(resp, "_hidden_params", None)
    cost = hidden.get("response_cost") if isinstance(hidden, dict) else None
    if isinstance(cost, (int, float)) and not isinstance(cost, bool) and math.isfinite(cost):
        return float(cost)
    return None


_UNPRICED: dict[str, int] = {}  # model -> size of litellm's price map when lookup failed
_PLUGIN_RATES: dict[str, tuple[float, float]] = {}


def plugin_provider(provider: str) -> bool:
    """True if an installed plugin serves this litellm provider prefix (e.g. ``sim``)."""
    if provider not in _PLUGIN_PROVIDERS:
        _PLUGIN_PROVIDERS[provider] = for_provider(provider) is not None
    return _PLUGIN_PROVIDERS[provider]


_PLUGIN_PROVIDERS: dict[str, bool] = {}


def clear_rate_cache() -> None:
    """Forget cached plugin-model rates (a plugin calls this after registering prices)."""
    _PLUGIN_RATES.clear()


def _plugin_rates(model: str) -> tuple[float, float]:
    """USD per prompt and per completion token of a plugin model (0 when it has no price)."""
    if model not in _PLUGIN_RATES:
        litellm = get_litellm()
        try:
            a, _ = litellm.cost_per_token(model=model, prompt_tokens=1_000_000,
                                          completion_tokens=0)
            _, b = litellm.cost_per_token(model=model, prompt_tokens=0,
                                          completion_tokens=1_000_000)
            _PLUGIN_RATES[model] = (a / 1e6, b / 1e6)
        except Exception:  # noqa: BLE001 - not registered: free
            return (0.0, 0.0)
    return _PLUGIN_RATES[model]


def plan_price(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Estimated USD for a dry run (``judge plan``): litellm's prices (plugin providers must
    have been set up first, :func:`judge.plugins.setup_providers`)."""
    return call_cost(model, Usage(prompt_tokens=prompt_tokens,
                                  completion_tokens=completion_tokens))


class ModelClient:
    """Async client for one model spec, with its own concurrency limit and stats."""

    def __init__(self, spec: ModelSpec, *, budget: Budget | None = None,
                 cache: ResponseCache | None = None):
        self.spec = spec
        self.budget = budget or Budget(None)
        self.model_budget = Budget(spec.budget_usd)
        self.cache = cache
        self.stats = ModelStats()
        self._sem: asyncio.Semaphore | None = None
        self._sem_loop: Any = None

    @property
    def _litellm(self) -> Any:
        """litellm, imported on the first call (not when a stage has nothing to call)."""
        return get_litellm()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._sem_loop is not loop:
            self._sem, self._sem_loop = asyncio.Semaphore(self.spec.concurrency), loop
        return self._sem

    def _kwargs(self, params: dict[str, Any]) -> dict[str, Any]:
        kw: dict[str, Any] = {**self.spec.params, **params}
        kw.update(timeout=self.spec.timeout, num_retries=0, max_retries=0)
        if self.spec.api_base:
            kw["api_base"] = self.spec.api_base
            kw.setdefault("api_key", "not-needed")
        if self.spec.api_key_env:
            register_secret_env(self.spec.api_key_env)
            kw["api_key"] = os.environ.get(self.spec.api_key_env, "")
        return kw

    def price_kwargs(self) -> dict[str, float]:
        """Per-token prices to hand litellm with each call, so it never searches its price map.

        The spec's own prices if it has them (litellm then computes the same cost as
        :func:`call_cost`). For a model litellm has been found unable to price, a placeholder, only
        while no litellm callback is registered (none would see the placeholder cost): its
        ``response_cost`` is then ignored and the call's cost stays unknown (``None``).
        Not zero: litellm runs a costly "why is this free" diagnostic on zero costs.
        litellm's price map itself is never changed.
        """
        spec = self.spec
        if spec.input_cost_per_mtok is not None:
            return {"input_cost_per_token": spec.input_cost_per_mtok / 1e6,
                    "output_cost_per_token": (spec.output_cost_per_mtok or 0.0) / 1e6}
        if is_unpriced(spec.model) and quiet_flag() is not None:
            return {"input_cost_per_token": PLACEHOLDER_PRICE,
                    "output_cost_per_token": PLACEHOLDER_PRICE}
        return {}

    async def complete(self, messages: list[dict[str, str]], params: dict[str, Any] | None = None,
                       *, sample: int = 0, use_cache: bool = True) -> CallResult:
        """One logical call with retries. Raises BudgetExhausted before calling if capped."""
        params = params or {}
        self.budget.check()
        self.model_budget.check()
        key = None
        if self.cache is not None and use_cache:
            key = cache_key(self.spec.model, messages, {**self.spec.params, **params}, sample,
                            self.spec.api_base)
            hit = self.cache.get(key)
            if hit is not None:
                # The answer's price, as when it was made (None stays unknown, never 0): a
                # record replayed after a crash must equal the one the crash lost.
                self.stats.cached += 1
                usage = Usage(**hit.get("usage", {}))
                return CallResult(hit["text"], hit.get("finish_reason"), usage,
                                  call_cost(self.spec.model, usage, self.spec,
                                            hit.get("litellm_cost")), None, 0, 0.0, True)
        async with self._semaphore():
            self.budget.check()
            self.model_budget.check()
            res, priced = await self._call(messages, params)
        if res.ok and key is not None:
            entry = {"text": res.text, "finish_reason": res.finish_reason,
                     "usage": res.usage.model_dump()}
            if priced is not None:
                entry["litellm_cost"] = priced
            self.cache.put(key, entry)
        return res

    async def _acompletion(self, messages: list[dict[str, str]], kw: dict[str, Any]) -> Any:
        """One ``litellm.acompletion`` attempt, with litellm's no-op success logging off
        when that is safe (see :func:`judge.llm.litellm_env.quiet_flag`)."""
        quiet = quiet_flag()
        if quiet is None:
            return await self._litellm.acompletion(model=self.spec.model, messages=messages, **kw)
        token = quiet.set(True)
        try:
            return await self._litellm.acompletion(model=self.spec.model, messages=messages, **kw)
        finally:
            quiet.reset(token)

    async def _call(self, messages: list[dict[str, str]], params: dict[str, Any]
                    ) -> tuple[CallResult, float | None]:
        """The call and litellm's own price for it (None if litellm had none)."""
        kw = self._kwargs(params)
        placeholder = False  # a stand-in for a price litellm lacks: ignore its cost
        if "input_cost_per_token" not in kw:
            prices = self.price_kwargs()
            kw.update(prices)
            placeholder = bool(prices) and self.spec.input_cost_per_mtok is None
        t0 = time.perf_counter()
        st = self.stats
        attempts = 0
        while True:  # no retry machinery until an attempt fails
            attempts += 1
            st.calls += 1
            try:
                resp = await self._acompletion(messages, kw)
                break
            except Exception as err:  # noqa: BLE001 - every failure becomes an error record
                invalid = is_validation_error(err)
                if attempts > self.spec.retries or invalid or not is_retryable(err):
                    st.errors += 1
                    st.retries += attempts - 1
                    error = call_error(err)
                    if invalid:  # the server rejected the request itself: never retried
                        error = error.model_copy(update={"retryable": False,
                                                         "kind": "validation"})
                    return CallResult(error=error, attempts=attempts,
                                      latency_s=time.perf_counter() - t0,
                                      cost_usd=None), None
                wait = retry_wait_s(err, attempts)
            await asyncio.sleep(wait)
        st.retries += attempts - 1
        choice = resp.choices[0]
        u = getattr(resp, "usage", None)
        usage = Usage(prompt_tokens=getattr(u, "prompt_tokens", 0) or 0,
                      completion_tokens=getattr(u, "completion_tokens", 0) or 0)
        priced = None if placeholder else litellm_price(resp)
        cost = call_cost(self.spec.model, usage, self.spec, priced)
        self.budget.add(cost)
        self.model_budget.add(cost)
        st.ok += 1
        st.prompt_tokens += usage.prompt_tokens
        st.completion_tokens += usage.completion_tokens
        if cost is None:
            st.cost_unknown_calls += 1
        else:
            st.cost_usd += cost
        latency = time.perf_counter() - t0
        st.latency_s += latency
        return CallResult(redact_values(choice.message.content or ""), choice.finish_reason, usage, cost, None,
                          attempts, latency), priced
