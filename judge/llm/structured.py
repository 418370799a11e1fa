"""Which ``response_format`` a judge call asks for (structured output), per model.

``structured_output`` on a judge spec:

- ``json_schema``: the rubric's schema, strict (OpenAI, vLLM, llama.cpp's server, Ollama);
- ``json_object``: a JSON object constrained by the same schema, sent as
  ``{"type": "json_object", "schema": {...}}`` (what llama-cpp-python's server accepts;
  servers that ignore ``schema`` still return a JSON object);
- ``none``: no constraint: the verdict is extracted from the text;
- ``auto``: decided once per model. Behind an ``api_base`` (a server whose abilities
  nothing else tells) by a *preflight* call before the stage's first judge call:
  ``json_schema`` is tried, then ``json_object`` with the schema, then ``none``; a mode is
  dropped only when the server rejects the request as invalid (HTTP 400/422, or a 500 whose
  body is a validation error). Elsewhere litellm's model map decides (a plugin provider such
  as ``sim`` declares schema support when it registers its models).

The decision is recorded on every judgment (``Judgment.structured_output``) and in the
manifest (the score stage's facts, ``structured_output`` per judge label).
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from judge.llm import litellm_env
from judge.llm.client import is_validation_error
from judge.llm.litellm_env import get_litellm

MODES = ("json_schema", "json_object", "none")
#: Longest explanation asked of a schema-constrained judge (characters): a grammar-constrained
#: small model otherwise fills its whole token budget with one string.
EXPLANATION_MAX_CHARS = 240
#: Default judge ``max_tokens``: room for a short explanation, plus tokens per output field.
EXPLANATION_TOKENS = 96
TOKENS_PER_FIELD = 16
BASE_TOKENS = 32

_PROBE_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}},
                 "required": ["ok"], "additionalProperties": False}
_PROBE_MESSAGES = [{"role": "user", "content": 'Reply with the JSON object {"ok": true}.'}]


@dataclass
class Decision:
    """The structured-output mode of one judge model, and how it was chosen."""

    mode: str
    decided_by: str  # config | litellm | preflight
    tried: list[dict[str, Any]] = field(default_factory=list)  # preflight: mode, outcome

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_DECIDED: dict[tuple[str, str | None], Decision] = {}
_IN_FLIGHT: dict[tuple[str, str | None], tuple[Any, asyncio.Future]] = {}


def _key(spec: Any) -> tuple[str, str | None]:
    return (spec.model, spec.api_base)


def needs_preflight(spec: Any) -> bool:
    """True for ``auto`` behind an ``api_base``: only a call can tell what it accepts."""
    return spec.structured_output == "auto" and bool(spec.api_base)


def static_decision(spec: Any) -> Decision | None:
    """The decision when no call is needed (configured mode, or litellm's model map)."""
    mode = spec.structured_output
    if mode != "auto":
        return Decision(mode, "config")
    if spec.api_base:
        return None
    return Decision("json_schema" if supports_schema(spec.model) else "none", "litellm")


def known(spec: Any) -> Decision | None:
    """The decision for ``spec`` if it is already made in this process."""
    return static_decision(spec) or _DECIDED.get(_key(spec))


async def resolve(spec: Any, client: Any) -> Decision:
    """The decision for ``spec``: static, cached, or made now by one preflight (concurrent
    callers wait for the same preflight)."""
    d = known(spec)
    if d is not None:
        return d
    key = _key(spec)
    loop = asyncio.get_running_loop()
    entry = _IN_FLIGHT.get(key)
    if entry is None or entry[0] is not loop:
        fut: asyncio.Future = loop.create_future()
        _IN_FLIGHT[key] = (loop, fut)
        try:
            d = await preflight(client)
        except BaseException as err:
            fut.set_exception(err)
            fut.exception()  # retrieved: no "never retrieved" warning
            _IN_FLIGHT.pop(key, None)
            raise
        _DECIDED[key] = d
        fut.set_result(d)
        _IN_FLIGHT.pop(key, None)
        return d
    return await asyncio.shield(entry[1])


async def preflight(client: Any) -> Decision:
    """Ask the endpoint with each mode in turn; keep the first it does not reject as invalid.

    A failure that is not a validation error (connection refused, timeout, 5xx without a
    validation body) ends the preflight with the mode being tried: the stage's own calls then
    fail or succeed on their own and record why; nothing is decided from a broken link.
    """
    tried: list[dict[str, Any]] = []
    for mode in MODES:
        params: dict[str, Any] = {"temperature": 0, "max_tokens": 16}
        fmt = _format(mode, _PROBE_SCHEMA, "preflight")
        if fmt is not None:
            params["response_format"] = fmt
        r = await client.complete(_PROBE_MESSAGES, params, use_cache=False)
        if r.ok or mode == "none":
            tried.append({"mode": mode, "outcome": "ok" if r.ok else _describe(r.error)})
            return Decision(mode, "preflight", tried)
        tried.append({"mode": mode, "outcome": _describe(r.error)})
        if not is_validation_error(r.error):
            return Decision(mode, "preflight", tried)
    raise AssertionError("unreachable")  # pragma: no cover


def _describe(err: Any) -> str:
    if err is None:
        return "ok"
    status = f" {err.status_code}" if getattr(err, "status_code", None) else ""
    return f"{err.type}{status}: {err.message[:160]}"


def decisions(specs: list[Any]) -> dict[str, dict[str, Any] | None]:
    """What the manifest records: each judge label's decision made in this process (None if
    this process made no call for it, e.g. worker processes did)."""
    out: dict[str, dict[str, Any] | None] = {}
    for s in specs:
        # asking litellm would import it (seconds): only once this process has called it
        d = known(s) if litellm_env.imported() else (
            Decision(s.structured_output, "config") if s.structured_output != "auto"
            else _DECIDED.get(_key(s)))
        out[s.label] = d.as_dict() if d is not None else None
    return out


def forget() -> None:
    """Drop every decision (tests; a server restarted with other abilities)."""
    _DECIDED.clear()
    _IN_FLIGHT.clear()


def structured_format(spec: Any, rubric: Any, n_responses: int = 1,
                      mode: str | None = None) -> dict[str, Any] | None:
    """litellm ``response_format`` for this judge and rubric, or None to rely on extraction.

    ``mode`` is a decided mode; without it, the decision known in this process is used
    (an undecided ``auto`` endpoint gets none: extraction always works).
    """
    if mode is None:
        d = known(spec)
        mode = d.mode if d is not None else "none"
    if mode == "none":
        return None
    if mode == "json_schema":
        return rubric.response_format(n_responses)
    rf = rubric.response_format(n_responses)["json_schema"]
    return _format("json_object", rf["schema"], rf["name"])


def _format(mode: str, schema: dict[str, Any], name: str) -> dict[str, Any] | None:
    if mode == "none":
        return None
    if mode == "json_schema":
        return {"type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": True}}
    return {"type": "json_object", "schema": bounded(schema, name)}


def bounded(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """The schema for a grammar-constrained server: titled with the response-format name and
    with the explanation capped at :data:`EXPLANATION_MAX_CHARS` characters.

    >>> s = bounded({"type": "object", "properties": {"explanation": {"type": "string"}}}, "r")
    >>> s["title"], s["properties"]["explanation"]["maxLength"]
    ('r', 240)
    """
    out = copy.deepcopy(schema)
    out.setdefault("title", name)
    expl = out.get("properties", {}).get("explanation")
    if isinstance(expl, dict):
        expl["type"] = "string"  # a grammar has no use for null here
        expl["maxLength"] = EXPLANATION_MAX_CHARS
    return out


def default_max_tokens(rubric: Any, n_responses: int = 1) -> int:
    """A judge's ``max_tokens`` when its config sets none: the rubric's output size (a
    short explanation plus a few tokens per field), so a rambling model stops early.

    >>> class R:
    ...     def output_schema(self, n):
    ...         return {"properties": {"explanation": {}, "score": {}, "refusal": {}}}
    >>> default_max_tokens(R())
    160
    """
    n_fields = len(rubric.output_schema(n_responses).get("properties", {}))
    return BASE_TOKENS + EXPLANATION_TOKENS + TOKENS_PER_FIELD * max(0, n_fields - 1)


def has_token_cap(params: dict[str, Any]) -> bool:
    return params.get("max_tokens") is not None or params.get("max_completion_tokens") is not None


@lru_cache(maxsize=256)
def supports_schema(model: str) -> bool:
    """litellm's answer to "does this model take a JSON schema", asked once per model."""
    try:
        return bool(get_litellm().supports_response_schema(model=model))
    except Exception:  # noqa: BLE001 - unknown models
        return False
