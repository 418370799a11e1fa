"""The ``sim/`` provider: the simulated world behind litellm's custom-provider interface.

``register()`` makes ``litellm.acompletion(model="sim/<name>", ...)`` answer from
:class:`SimWorld`, so the offline default takes exactly the same client path as a real
provider. Model roles come from the name: ``sim/generator*`` write answers,
``sim/judge*`` (and ``sim/validator*``) judge, ``sim/writer*`` write user queries.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from judge.config import PROJECT_ROOT
from judge.llm.client import clear_rate_cache
from judge.llm.litellm_env import get_litellm
from judge.scenarios import attribute_cues
from judge.sim import world as w
from judge.sim.writer import writer_reply

DEFAULT_PROFILE = PROJECT_ROOT / "datasets" / "sim" / "default.yaml"
SIGNALS_FILE = PROJECT_ROOT / "datasets" / "sim" / "rubric_signals.yaml"
PRODUCERS_FILE = PROJECT_ROOT / "datasets" / "producers.yaml"
PROFILE_ENV = "JUDGE_SIM_PROFILE"
LATENCY_ENV = "JUDGE_SIM_LATENCY_MS"  # simulated per-call latency of the in-process provider


@dataclass(frozen=True)
class SimReply:
    text: str
    prompt_tokens: int
    completion_tokens: int


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _load_yaml(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    return yaml.safe_load(path.read_text(encoding="utf-8")) or default


class SimWorld:
    """Profile + attribute detector + rubric signal map + producer catalogue."""

    def __init__(self, profile: str | Path | None = None, cues: Any = None):
        self.profile_path = Path(profile or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE)
        self.profile = w.Profile.load(self.profile_path)
        if cues is None:
            cues = attribute_cues()
        self.detector = w.Detector.from_cues(cues)
        self.signals: dict = _load_yaml(SIGNALS_FILE, {})
        prods = _load_yaml(PRODUCERS_FILE, {})
        self.producers: list[dict] = prods.get("producers", prods) if isinstance(prods, dict) else prods
        self.producer_names = [p["name"] for p in self.producers]

    def role(self, model: str) -> str:
        name = model.split("/", 1)[-1]
        for prefix, role in (("gen", "generator"), ("judge", "judge"), ("validator", "judge"),
                             ("writer", "writer")):
            if name.startswith(prefix):
                return role
        return "generator"

    def complete(self, model: str, messages: list[dict], params: dict | None = None) -> SimReply:
        """Answer one chat request deterministically from (model, messages, seed)."""
        params = params or {}
        name = model.split("/", 1)[-1]
        rng = w.rng_for(name, messages, params.get("seed"))
        role = self.role(name)
        if role == "judge":
            text = w.judge_reply(self.profile.judge(name), messages, params, self.detector,
                                 self.signals, self.producer_names, rng)
        elif role == "writer":
            text = writer_reply(self, name, messages, params, rng)
        else:
            query = next((str(m.get("content", "")) for m in reversed(messages)
                          if m.get("role") == "user"), "")
            attrs, modes = self.detector.detect(query)
            text = w.generate_response(self.profile.generator(name), query, attrs, modes, rng,
                                       self.producers)
        prompt_tokens = sum(_tokens(str(m.get("content", ""))) for m in messages)
        return SimReply(text, prompt_tokens, _tokens(text))

    def expected(self, model: str, query_text: str) -> dict[str, float]:
        """Oracle for reports and tests: planted expectations for one query."""
        attrs, _ = self.detector.detect(query_text)
        return w.expected_outcomes(self.profile.generator(model.split("/", 1)[-1]), attrs,
                                   query_text)

    def planted_judge_bias(self, judge_model: str, attrs: dict[str, str]) -> float:
        return w.effect(self.profile.judge(judge_model.split("/", 1)[-1]).get("bias", {}), attrs)


@lru_cache(maxsize=8)
def get_world(profile: str | None = None) -> SimWorld:
    """The (cached) world for a profile path; default from $JUDGE_SIM_PROFILE or the repo."""
    return SimWorld(profile)


def complete_sync(model: str, messages: list[dict], params: dict | None = None,
                  profile: str | None = None) -> SimReply:
    """Plain-function entry point (used by the local OpenAI-compatible server)."""
    return get_world(profile).complete(model, messages, params)


_REGISTERED: dict[str, Any] = {}


def register(profile: str | Path | None = None, models: list[str] = ()) -> SimWorld:
    """Register the ``sim`` custom provider with litellm, and simulated prices for ``models``.

    Prices come from the profile's ``prices`` section (USD per million tokens), so budget
    caps and cost accounting are exercised offline through litellm's own cost functions.
    """
    litellm = get_litellm()
    from litellm import CustomLLM, ModelResponse

    world = get_world(str(profile) if profile else None)
    latency_s = float(os.environ.get(LATENCY_ENV, "0") or 0) / 1000.0

    class SimProvider(CustomLLM):
        def _answer(self, model: str, messages: list, optional_params: dict) -> ModelResponse:
            t0 = time.perf_counter()
            reply = world.complete(model, messages, optional_params)
            resp = ModelResponse(
                model=f"sim/{model}",
                choices=[{"index": 0, "finish_reason": "stop",
                          "message": {"role": "assistant", "content": reply.text}}],
                usage={"prompt_tokens": reply.prompt_tokens,
                       "completion_tokens": reply.completion_tokens,
                       "total_tokens": reply.prompt_tokens + reply.completion_tokens})
            resp._hidden_params["sim_latency_s"] = time.perf_counter() - t0
            return resp

        def completion(self, model, messages, *args, optional_params=None, **kwargs):
            return self._answer(model, messages, optional_params or {})

        async def acompletion(self, model, messages, *args, optional_params=None, **kwargs):
            if latency_s:
                await asyncio.sleep(latency_s)
            return self._answer(model, messages, optional_params or {})

    handler = SimProvider()
    litellm.custom_provider_map = [m for m in litellm.custom_provider_map
                                   if m.get("provider") != "sim"]
    litellm.custom_provider_map.append({"provider": "sim", "custom_handler": handler})
    # litellm reads custom_provider_map into its routing table on demand.
    from litellm.utils import custom_llm_setup
    custom_llm_setup()
    prices = {}
    for m in models:
        name = m.split("/", 1)[-1]
        p = w.deep_merge(world.profile.prices.get("default", {}),
                         world.profile.prices.get("models", {}).get(name, {}))
        prices[f"sim/{name}"] = {"input_cost_per_token": p.get("input_per_mtok", 0.0) / 1e6,
                                 "output_cost_per_token": p.get("output_per_mtok", 0.0) / 1e6,
                                 "litellm_provider": "sim", "mode": "chat",
                                 "supports_response_schema": True}
    if prices:
        litellm.register_model(prices)

        clear_rate_cache()
    _REGISTERED["world"] = world
    return world


def _likert_reading(world: SimWorld, rubric: Any, criterion_id: str, response: str
                    ) -> tuple[Any, float | None, dict] | None:
    """(criterion view, numeric signal reading or None, all signals) for a likert criterion;
    None when the criterion is not likert."""
    v = {v.id: v for v in w.criteria_from_schema(rubric.output_schema())}.get(criterion_id)
    if v is None or v.kind != "likert":
        return None
    spec = world.signals.get(rubric.id, {}).get(criterion_id) or {}
    spec = {"signal": spec} if isinstance(spec, str) else spec
    sig = w.read_signals(response, world.producer_names)
    raw = sig.get(spec.get("signal") or w.guess_signal(v.id, v.kind))
    numeric = not isinstance(raw, bool) and isinstance(raw, (int, float)) and not spec.get("map")
    return v, (float(raw) if numeric else None), sig


def planted_item_bias(world: SimWorld, judge_model: str, rubric: Any, criterion_id: str,
                      response: str, query_text: str) -> float | None:
    """Planted E[judge - human] for one item and likert criterion (None if not likert)."""
    reading = _likert_reading(world, rubric, criterion_id, response)
    if reading is None:
        return None
    v, raw, sig = reading
    if raw is None:
        return 0.0  # mapped / boolean readings carry no planted judge bias
    attrs, _ = world.detector.detect(query_text)
    return w.expected_judge_minus_human(world.profile.judge(judge_model.split("/", 1)[-1]),
                                        world.profile.humans, attrs, raw,
                                        sig.get("words", 0), v.lo, v.hi)


def planted_item_human(world: SimWorld, rubric: Any, criterion_id: str, response: str
                       ) -> float | None:
    """Planted E[human score] for one item and likert criterion (None if not likert)."""
    reading = _likert_reading(world, rubric, criterion_id, response)
    if reading is None or reading[1] is None:
        return None
    v, raw, _ = reading
    return w.expected_rounded(w.rescale(raw, v.lo, v.hi),
                              world.profile.humans.get("noise_sd", 0.7), v.lo, v.hi)
