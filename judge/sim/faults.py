"""Fault injection for the local OpenAI-compatible server (``judge serve-sim``).

Faults are decided per request from a hash of ``(seed, request hash, attempt)``, where
``attempt`` counts earlier requests with the same body. The pattern is reproducible for a
seed, and a retried identical request draws a fresh outcome, so it can succeed.

>>> cfg = FaultConfig(rate_429=0.5, seed=7)
>>> decide(cfg, "abc", 0, wants_json=False) == decide(cfg, "abc", 0, wants_json=False)
True
>>> decide(FaultConfig(), "abc", 0, wants_json=True).outcome
'ok'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Outcome = Literal["ok", "429", "500", "503", "reset", "hang", "malformed"]
MalformKind = Literal["truncate", "wrap"]

# Cumulative order in which rates are laid out on [0, 1).
_FAULT_ORDER: tuple[tuple[str, Outcome], ...] = (
    ("rate_429", "429"),
    ("rate_500", "500"),
    ("rate_503", "503"),
    ("rate_reset", "reset"),
    ("rate_hang", "hang"),
    ("rate_malformed", "malformed"),
)


class FaultConfig(BaseModel):
    """What the server injects. Rates are probabilities per request and must sum to <= 1."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: float = Field(default=0.0, ge=0.0, description="Fixed delay before every response.")
    jitter_ms: float = Field(default=0.0, ge=0.0,
                             description="Uniform +/- jitter added to latency (clipped at 0).")
    rate_429: float = Field(default=0.0, ge=0.0, le=1.0, description="429 with Retry-After.")
    retry_after_s: float = Field(default=1.0, ge=0.0, description="Retry-After header value (s).")
    rate_500: float = Field(default=0.0, ge=0.0, le=1.0, description="500 Internal Server Error.")
    rate_503: float = Field(default=0.0, ge=0.0, le=1.0, description="503 Service Unavailable.")
    rate_reset: float = Field(default=0.0, ge=0.0, le=1.0,
                              description="Connection reset (TCP RST) before any response byte.")
    rate_hang: float = Field(default=0.0, ge=0.0, le=1.0,
                             description="No response for hang_s, then the connection is closed.")
    hang_s: float = Field(default=600.0, gt=0.0, description="How long a hang lasts (s).")
    rate_malformed: float = Field(
        default=0.0, ge=0.0, le=1.0,
        description="Truncated or garbage-wrapped output, only for requests that ask for JSON.")
    seed: int = Field(default=0, description="Seed of the fault pattern.")

    @model_validator(mode="after")
    def _rates_sum(self) -> FaultConfig:
        total = sum(getattr(self, name) for name, _ in _FAULT_ORDER)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates sum to {total:g}, must be <= 1")
        return self

    def cli_args(self) -> list[str]:
        """The ``judge serve-sim`` flags that reproduce this config (non-defaults only)."""
        args: list[str] = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value != field.default:
                args += [f"--{name.replace('_', '-')}", repr(value)]
        return args


@dataclass(frozen=True)
class Decision:
    """The fate of one request."""

    outcome: Outcome
    delay_s: float
    malform: MalformKind | None = None
    malform_u: float = 0.0


def _uniforms(seed: int, request_hash: str, attempt: int) -> tuple[float, float, float]:
    h = hashlib.blake2b(f"{seed}:{request_hash}:{attempt}".encode(), digest_size=24).digest()
    scale = float(1 << 64)
    a, b, c = (int.from_bytes(h[i:i + 8], "big") / scale for i in (0, 8, 16))
    return a, b, c


def decide(cfg: FaultConfig, request_hash: str, attempt: int, *, wants_json: bool) -> Decision:
    """Outcome and delay for attempt ``attempt`` (0-based) of the request ``request_hash``.

    The malformed slot turns into ``ok`` for requests that don't ask for JSON.
    """
    u_fault, u_jitter, u_mal = _uniforms(cfg.seed, request_hash, attempt)
    delay_ms = cfg.latency_ms + (2.0 * u_jitter - 1.0) * cfg.jitter_ms
    delay_s = max(0.0, delay_ms) / 1000.0
    edge = 0.0
    outcome: Outcome = "ok"
    for name, fault in _FAULT_ORDER:
        edge += getattr(cfg, name)
        if u_fault < edge:
            outcome = fault
            break
    if outcome == "malformed":
        if not wants_json:
            return Decision("ok", delay_s)
        kind: MalformKind = "truncate" if u_mal < 0.5 else "wrap"
        return Decision("malformed", delay_s, kind, u_mal)
    return Decision(outcome, delay_s)


def wants_json(body: dict[str, Any]) -> bool:
    """Whether a chat request asks for JSON: a JSON ``response_format`` or "json" in a message."""
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema"):
        return True
    for m in body.get("messages") or ():
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if isinstance(content, str) and "json" in content.lower():
            return True
    return False


WRAP_PREFIX = "Sure! Here is my assessment of the response:\n"
WRAP_SUFFIX = "\n}\nLet me know if you would like me to elaborate."


def malform(text: str, kind: MalformKind, u: float) -> str:
    """Break ``text``: cut it at a point set by ``u`` in [0, 1), or wrap it in chatter.

    A truncated JSON object never parses; a wrapped one only parses with a decoder that
    starts at the first ``{`` and stops at the end of the object.

    >>> malform('{"score": 3}', "truncate", 0.5)
    '{"scor'
    >>> import json
    >>> json.loads(malform('{"a": 1}', "truncate", 0.99))
    Traceback (most recent call last):
    ...
    json.decoder.JSONDecodeError: Expecting ',' delimiter: line 1 column 8 (char 7)
    """
    if kind == "wrap":
        return WRAP_PREFIX + text + WRAP_SUFFIX
    if len(text) < 2:
        return "{"
    cut = 1 + int(u * (len(text) - 1))
    return text[:min(cut, len(text) - 1)]
