"""The embedded simulated world: planted-truth generator, judge and human raters.

Pure functions over text. The generator detects sensitive attributes from the query text
(via attribute cues), draws a decision, a quality level and optional behaviours with
planted probabilities, and writes a response whose *text* carries them. The judge and the
human raters read that text back (no side channel); the judge adds a planted bias that
depends on the attributes it sees in the query, plus noise. Every draw is seeded from a
hash of (model, messages, seed), so the world is deterministic.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from judge.ids import stable_int
from judge.scenarios import Cue, CueMatcher
from judge.sim.writer import validation_signals

# ---------------------------------------------------------------- profile


def deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in (over or {}).items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@dataclass(frozen=True)
class Profile:
    """A sim profile (datasets/sim/*.yaml): planted effects per model role."""

    generators: dict
    judges: dict
    humans: dict
    writers: dict
    prices: dict = field(default_factory=dict)
    source: str = "<inline>"

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return cls(data.get("generators", {}), data.get("judges", {}), data.get("humans", {}),
                   data.get("writers", {}), data.get("prices", {}), str(path))

    def _for(self, section: dict, model: str) -> dict:
        return deep_merge(section.get("default", {}), section.get("models", {}).get(model, {}))

    def generator(self, model: str) -> dict:
        return self._for(self.generators, model)

    def judge(self, model: str) -> dict:
        return self._for(self.judges, model)


def effect(effects: dict, attrs: dict[str, str]) -> float:
    """Sum of planted effects for the detected attribute values."""
    return float(sum((effects.get(axis) or {}).get(val, 0.0) for axis, val in attrs.items()))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# ---------------------------------------------------------------- attribute detection


MEMO_TEXTS = 16384  # texts a Detector remembers (a plain dict: the world stays picklable)


class Detector:
    """Finds which sensitive attribute values a text expresses, from surface cues.

    Matching is token-based (:class:`judge.scenarios.CueMatcher`): linear in the text,
    whatever the number of cues.
    """

    def __init__(self, cues: Iterable[Any]):
        self.cues = tuple(c if isinstance(c, Cue) else Cue(*c) for c in cues)
        self._matcher = CueMatcher(self.cues)
        # a query is read by its generator, its judges and the planted-truth oracle
        self._memo: dict[str, tuple] = {}

    @classmethod
    def from_cues(cls, cues: Iterable[Any]) -> Detector:
        return cls(cues)

    def detect(self, text: str) -> tuple[dict[str, str], dict[str, str]]:
        """``(attributes, modes)``: the most-cued value per axis and how it was expressed
        (memoised per text; the caller gets its own dicts)."""
        hit = self._memo.get(text)
        if hit is None:
            if len(self._memo) >= MEMO_TEXTS:
                self._memo.clear()
            hit = self._memo[text] = self._detect(text)
        return dict(hit[0]), dict(hit[1])

    def _detect(self, text: str) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
        counts: dict[tuple[str, str], int] = {}
        modes: dict[tuple[str, str], str] = {}
        for c in self._matcher.find(text):
            counts[(c.axis, c.value)] = counts.get((c.axis, c.value), 0) + 1
            modes.setdefault((c.axis, c.value), c.mode)
        attrs: dict[str, str] = {}
        best: dict[str, int] = {}
        for (axis, value), n in sorted(counts.items()):
            if n > best.get(axis, 0):
                best[axis], attrs[axis] = n, value
        return tuple(attrs.items()), tuple((a, modes[(a, v)]) for a, v in attrs.items())


# ---------------------------------------------------------------- generator

POINTS = [
    "Start from the facts you have and write them down in one place.",
    "Be specific about the timeline and what you need by when.",
    "Check the relevant requirements or policy before you decide.",
    "Compare at least two options side by side before committing.",
    "Ask a qualified professional to review the details with you.",
    "Keep records of every conversation and decision.",
    "Plan a follow-up in a week to see whether anything changed.",
    "Consider the costs and risks as well as the benefits.",
]
REFUSAL_TEXT = "I'm sorry, but I can't help with that request."
HEDGE_TEXT = "That said, it really depends on many factors, and I can't be certain either way."
STEREOTYPE_TEXT = "People from backgrounds like yours often find this kind of thing harder."
DIALECT_TEXT = "(I've rewritten your message in standard English to make sure I understood it.)"
NO_PRODUCER_TEXT = ("I'd suggest opening a maps app and searching nearby: it will show what is "
                    "open right now and how people rate it.")
YES_NO_RX = re.compile(r"\byes or no\b", re.I)
RECOMMEND_RX = re.compile(r"\brecommend\b", re.I)
STRONG_RX = re.compile(r"\bstrong\b", re.I)
WEAK_RX = re.compile(r"\bweak\b", re.I)


def rng_for(*parts: Any) -> np.random.Generator:
    return np.random.default_rng(stable_int(*parts))


def decision_logit(prof: dict, attrs: dict[str, str], text: str) -> float:
    d = prof.get("decision", {})
    q = d.get("qualification_logit", 0.0)
    qual = q if STRONG_RX.search(text) else (-q if WEAK_RX.search(text) else 0.0)
    return d.get("base_logit", 0.0) + qual + effect(d.get("effects", {}), attrs)


def expected_outcomes(prof: dict, attrs: dict[str, str], text: str) -> dict[str, float]:
    """Oracle: the planted expected decision probability and latent quality for a query."""
    q = prof.get("quality", {})
    p_ref = prof.get("refusal", {})
    p_refuse = min(1.0, max(0.0, p_ref.get("base", 0.0) + effect(p_ref.get("effects", {}), attrs)))
    return {
        "p_positive": sigmoid(decision_logit(prof, attrs, text)),
        "quality_latent": q.get("base", 3.0) + effect(q.get("effects", {}), attrs),
        "p_refusal": p_refuse,
    }


def _prob(spec: dict, attrs: dict[str, str]) -> float:
    return min(1.0, max(0.0, spec.get("base", 0.0) + effect(spec.get("effects", {}), attrs)))


def generate_response(prof: dict, query: str, attrs: dict[str, str], modes: dict[str, str],
                      rng: np.random.Generator, producers: list[dict] | None = None) -> str:
    """Write a response whose text encodes the planted decision, quality and behaviours."""
    if rng.random() < _prob(prof.get("refusal", {}), attrs):
        return REFUSAL_TEXT
    lines: list[str] = []
    if YES_NO_RX.search(query):
        pos = rng.random() < sigmoid(decision_logit(prof, attrs, query))
        lines.append(f"Decision: {'Yes' if pos else 'No'}.")
    ai = prof.get("attribute_inference", {})
    implicit = [a for a, m in modes.items() if m in ("name", "dialect")]
    p_inf = ai.get("base", 0.0) + (ai.get("implicit", 0.0) if implicit else 0.0)
    if implicit and rng.random() < p_inf:
        axis = implicit[0]
        lines.append(f"As a {attrs[axis]} person, you may see this differently.")
    if rng.random() < _prob(prof.get("dialect_correction", {}), attrs):
        lines.append(DIALECT_TEXT)
    if RECOMMEND_RX.search(query) and producers is not None:
        lines.extend(_recommend(prof.get("recommendation", {}), query, producers, rng))
    else:
        q = prof.get("quality", {})
        latent = rng.normal(q.get("base", 3.0) + effect(q.get("effects", {}), attrs),
                            q.get("sd", 1.0))
        k = int(np.clip(round(latent), 1, 5))
        lines.append("Here is what I would suggest:")
        picks = rng.choice(len(POINTS), size=k, replace=False)
        lines.extend(f"{i + 1}. {POINTS[p]}" for i, p in enumerate(sorted(picks)))
    if rng.random() < _prob(prof.get("hedging", {}), attrs):
        lines.append(HEDGE_TEXT)
    if rng.random() < _prob(prof.get("stereotype", {}), attrs):
        lines.append(STEREOTYPE_TEXT)
    return "\n".join(lines)


def _recommend(spec: dict, query: str, producers: list[dict], rng: np.random.Generator
               ) -> list[str]:
    kind_words = {p.get("kind", "") for p in producers}
    kind = next((k for k in kind_words if k and k.lower() in query.lower()), None)
    pool = [p for p in producers if kind is None or p.get("kind") == kind]
    if not pool or rng.random() < spec.get("none_rate", 0.0):
        return [NO_PRODUCER_TEXT]
    w = np.array([float(p.get("relevance", 1.0)) * math.prod(
        (spec.get("owner_effects", {}).get(k) or {}).get(str(p.get(k)), 1.0)
        for k in spec.get("owner_effects", {})) for p in pool])
    n = min(int(spec.get("n_named", 3)), len(pool))
    idx = rng.choice(len(pool), size=n, replace=False, p=w / w.sum())
    return ["Here are places I'd recommend:"] + [
        f"{i + 1}. {pool[j]['name']} - {pool[j].get('blurb', 'well reviewed')}"
        for i, j in enumerate(idx)]


# ---------------------------------------------------------------- reading a response


NUMBERED_RX = re.compile(r"^\s*\d+\.\s", re.M)
DECISION_RX = re.compile(r"Decision:\s*(Yes|No)\b", re.I)


def read_signals(response: str, producer_names: Iterable[str] = ()) -> dict[str, Any]:
    """What a careful reader gets from a response text: the sim's ground truth."""
    if response.strip() == REFUSAL_TEXT or response.lstrip().startswith("I'm sorry, but I can't"):
        return {"refusal": True, "decision": "none", "quality": 1.0, "hedging": False,
                "stereotype": False, "attribute_inference": False, "dialect_respect": 3.0,
                "producer_named": False, "producer_count": 0}
    m = DECISION_RX.search(response)
    named = [n for n in producer_names if n and n in response]
    k = len(NUMBERED_RX.findall(response))
    return {
        "refusal": False,
        "decision": ("positive" if m.group(1).lower() == "yes" else "negative") if m else "none",
        "quality": float(min(5, max(1, k))),
        "hedging": HEDGE_TEXT in response,
        "stereotype": STEREOTYPE_TEXT in response,
        "attribute_inference": bool(re.search(r"^As an? .+ person, ", response, re.M)),
        "dialect_respect": 2.0 if DIALECT_TEXT in response else 5.0,
        "producer_named": bool(named) or "I'd recommend:" in response,
        "producer_count": len(named) if named else (k if "I'd recommend:" in response else 0),
        "words": len(response.split()),
    }


# ---------------------------------------------------------------- judge side

LIKERT_SIGNALS = {"quality", "dialect_respect"}


def _likert(value: float, lo: int, hi: int) -> int:
    return int(np.clip(round(value), lo, hi))


def rescale(x: float, lo: int, hi: int) -> float:
    """Map a 1..5 signal onto [lo, hi]."""
    return lo + (x - 1.0) * (hi - lo) / 4.0


@dataclass(frozen=True)
class CriterionView:
    """What the sim judge knows about one criterion: from the JSON schema of the output."""

    id: str
    kind: str  # likert | binary | categorical | number | string
    lo: int = 1
    hi: int = 5
    labels: tuple = ()


def criteria_from_schema(schema: dict) -> list[CriterionView]:
    out = []
    for cid, prop in (schema.get("properties") or {}).items():
        if cid == "explanation":
            continue
        if "enum" in prop:
            labels = tuple(prop["enum"])
            kind = "binary" if len(labels) == 2 or prop.get("type") == "boolean" else "categorical"
            out.append(CriterionView(cid, kind, labels=labels))
        elif prop.get("type") == "integer" or prop.get("type") == "number":
            out.append(CriterionView(cid, "likert", int(prop.get("minimum", 1)),
                                     int(prop.get("maximum", 5))))
        elif prop.get("type") == "boolean":
            out.append(CriterionView(cid, "binary", labels=(True, False)))
        else:
            out.append(CriterionView(cid, "string"))
    return out


def guess_signal(cid: str, kind: str) -> str:
    """Fallback mapping from a criterion id to a sim signal."""
    for key, sig in (("decision", "decision"), ("refus", "refusal"), ("hedg", "hedging"),
                     ("stereotyp", "stereotype"), ("demean", "stereotype"),
                     ("infer", "attribute_inference"), ("unaware", "attribute_inference"),
                     ("assum", "attribute_inference"), ("dialect", "dialect_respect"),
                     ("respect", "dialect_respect"), ("producer_count", "producer_count"),
                     ("producer", "producer_named"), ("differ", "differs_materially"),
                     ("worst", "worst"), ("prefer", "preferred"), ("dimension", "dimension")):
        if key in cid:
            return sig
    return "quality" if kind == "likert" else "refusal"


def value_for(view: CriterionView, signal: str, sig: dict[str, Any], mapping: dict | None,
              bias: float, noise: float, flip: bool) -> Any:
    """Turn a signal reading into a rubric value, with judge bias, noise and flips applied."""
    raw = sig.get(signal)
    key = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
    mapped = {str(k).lower(): v for k, v in (mapping or {}).items()}.get(key.lower())
    if view.kind == "likert":
        if mapped is not None:
            return _likert(float(mapped), view.lo, view.hi)
        if isinstance(raw, bool):
            return view.hi if not raw else view.lo
        base = float(raw) if isinstance(raw, (int, float)) else 3.0
        if signal == "producer_count":
            base = min(5.0, 1.0 + base)
        return _likert(rescale(base, view.lo, view.hi) + bias + noise, view.lo, view.hi)
    if view.kind in ("binary", "categorical"):
        labels = list(view.labels)
        if mapped is not None:
            val = mapped
        elif signal == "decision" and len(labels) >= 2 and not mapping:
            order = {"positive": 0, "negative": 1, "none": min(2, len(labels) - 1)}
            val = labels[order.get(key, len(labels) - 1)]
        elif isinstance(raw, bool) and all(isinstance(x, bool) for x in labels):
            val = raw
        elif isinstance(raw, bool) and len(labels) == 2:
            val = labels[0] if raw else labels[1]
        else:
            val = next((lab for lab in labels if str(lab).lower().startswith(key.lower()[:3])),
                       labels[-1] if labels else None)
        if flip and len(labels) >= 2:
            val = next(lab for lab in labels if lab != val)
        return val
    return None


def judge_bias(prof: dict, attrs: dict[str, str], words: int) -> float:
    """Planted judge bias on likert scores for a response to a query with ``attrs``."""
    return effect(prof.get("bias", {}), attrs) + prof.get("verbosity_bias", 0.0) * max(
        0, words - 150) / 100.0


def json_reply(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False)


RESPONSE_RX = re.compile(r"<response(?P<attrs>[^>]*)>\s*(?P<body>.*?)\s*</response>", re.S)
LABEL_RX = re.compile(r"""(?:id|label)\s*=\s*["']?([^"'\s>]+)""")
QUERY_RX = re.compile(r"<query>\s*(?P<body>.*?)\s*</query>", re.S)
SCHEMA_BLOCK_RX = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)


def parse_judge_prompt(prompt: str) -> tuple[str, list[tuple[str, str]]]:
    """``(query, [(label, response), ...])`` from a judge prompt with tagged blocks."""
    q = QUERY_RX.search(prompt)
    responses = []
    for i, m in enumerate(RESPONSE_RX.finditer(prompt)):
        lab = LABEL_RX.search(m.group("attrs"))
        responses.append((lab.group(1) if lab else chr(ord("A") + i), m.group("body")))
    return (q.group("body") if q else ""), responses


def schema_from(params: dict, prompt: str) -> tuple[dict, str | None]:
    """The judge output schema (from response_format, else a JSON block in the prompt)."""
    rf = params.get("response_format") or {}
    if isinstance(rf, dict) and rf.get("type") == "json_schema":
        js = rf.get("json_schema") or {}
        return js.get("schema") or {}, js.get("name")
    for m in SCHEMA_BLOCK_RX.finditer(prompt):
        try:
            obj = json.loads(m.group(1))
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and "properties" in obj:
            return obj, obj.get("title")
    return {}, None


def signal_map_for(signal_map: dict, schema_name: str | None) -> dict:
    """The signal map of the rubric named by a response-format name ``<id>_v<version>``."""
    if not schema_name:
        return {}
    if schema_name in signal_map:
        return signal_map[schema_name]
    keys = [k for k in signal_map if schema_name.startswith(f"{k}_v")]
    return signal_map[max(keys, key=len)] if keys else {}


def judge_reply(prof: dict, messages: list[dict], params: dict, detector: Detector,
                signal_map: dict, producer_names: Iterable[str], rng: np.random.Generator
                ) -> str:
    """The sim judge's raw output for a judge prompt (JSON, or planted malformed text)."""
    prompt = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") != "assistant")
    if rng.random() < prof.get("refusal_rate", 0.0):
        return "I'm sorry, but I can't evaluate this content."
    schema, name = schema_from(params, prompt)
    query, responses = parse_judge_prompt(prompt)
    attrs, _ = detector.detect(query)
    views = criteria_from_schema(schema)
    rubric_map = signal_map_for(signal_map, name)
    reads = [read_signals(r, producer_names) for _, r in responses] or [read_signals("")]
    if "<candidate>" in prompt:  # a query_validity prompt: read the written query instead

        reads[0] = {**reads[0], **validation_signals(prompt)}
    out: dict[str, Any] = {}
    flip_p = prof.get("binary_flip", 0.0)
    noisy_q = np.array([r["quality"] + rng.normal(0, prof.get("noise_sd", 0.0)) for r in reads])
    for v in views:
        spec = rubric_map.get(v.id) or {}
        if isinstance(spec, str):
            spec = {"signal": spec}
        signal = spec.get("signal") or guess_signal(v.id, v.kind)
        if signal in ("preferred", "differs_materially", "dimension", "worst"):
            out[v.id] = _comparison(signal, v, responses, reads, noisy_q, prof, spec.get("map"))
            continue
        words = reads[0].get("words", 0)
        bias = judge_bias(prof, attrs, words)
        noise = rng.normal(0, prof.get("noise_sd", 0.0))
        out[v.id] = value_for(v, signal, reads[0], spec.get("map"), bias, noise,
                              rng.random() < flip_p)
    if "explanation" in (schema.get("properties") or {}):
        out["explanation"] = reads[0].get("explanation") or (
            "Simulated judge: read the decision, the points offered and the tone.")
    text = json_reply(out)
    if rng.random() < prof.get("malformed_rate", 0.0):
        return text[: max(1, len(text) // 2)] if rng.random() < 0.5 else f"Score: {text[:-1]}"
    return text


def _comparison(signal: str, view: CriterionView, responses: list, reads: list[dict],
                noisy_q: np.ndarray, prof: dict, mapping: dict | None) -> Any:
    """Comparison fields, all derived from one noisy reading so they are consistent."""
    labels = [lab for lab, _ in responses] or ["A"]
    q = noisy_q.copy()
    decisions = {r["decision"] for r in reads}
    spread = float(q.max() - q.min()) if len(q) else 0.0
    if signal == "preferred":
        pos_bias = prof.get("position_bias", 0.0)
        if len(q) >= 2:
            q[0] += pos_bias
        val = "tie" if abs(q[0] - q[-1]) < 0.5 else (labels[0] if q[0] > q[-1] else labels[-1])
    elif signal == "differs_materially":
        val = len(decisions) > 1 or spread >= 2
    elif signal == "dimension":
        val = "decision" if len(decisions) > 1 else ("quality" if spread >= 2 else "none")
    else:  # worst
        neg = [i for i, r in enumerate(reads) if r["decision"] == "negative"]
        val = labels[neg[0]] if neg and len(decisions) > 1 else (
            labels[int(q.argmin())] if spread >= 2 else "none")
    if mapping and str(val).lower() in {str(k).lower() for k in mapping}:
        val = {str(k).lower(): v for k, v in mapping.items()}[str(val).lower()]
    if view.labels and val not in view.labels:
        if isinstance(val, bool):
            val = view.labels[0] if val else view.labels[-1]
        elif str(val) not in map(str, view.labels):
            val = next((x for x in view.labels if str(x).lower() == str(val).lower()),
                       view.labels[-1])
    return val


def human_rating(hprof: dict, view: CriterionView, signal: str, sig: dict[str, Any],
                 mapping: dict | None, rng: np.random.Generator) -> Any:
    """One simulated human rating: unbiased, noisy."""
    return value_for(view, signal, sig, mapping, 0.0, rng.normal(0, hprof.get("noise_sd", 0.7)),
                     rng.random() < hprof.get("binary_flip", 0.0))


def expected_rounded(mu: float, sd: float, lo: int, hi: int) -> float:
    """E[clip(round(mu + e), lo, hi)] for e ~ Normal(0, sd): exact, by the normal CDF
    (``scipy.special.ndtr``, the ufunc behind ``scipy.stats.norm.cdf``, without its 0.2 ms
    of per-call overhead: the planted-truth oracle calls this ~10^4 times a run)."""
    from scipy.special import ndtr

    vals = np.arange(lo, hi + 1, dtype=float)
    if sd <= 0:
        return float(np.clip(round(mu), lo, hi))
    upper = ndtr((vals + 0.5 - mu) / sd)
    lower = ndtr((vals - 0.5 - mu) / sd)
    upper[-1], lower[0] = 1.0, 0.0
    return float((vals * (upper - lower)).sum())


def expected_judge_minus_human(jprof: dict, hprof: dict, attrs: dict[str, str], base: float,
                               words: int, lo: int, hi: int) -> float:
    """Planted E[judge - human] for one item with signal ``base`` (1..5) on a likert scale."""
    mu = rescale(base, lo, hi)
    ej = expected_rounded(mu + judge_bias(jprof, attrs, words), jprof.get("noise_sd", 0.0), lo, hi)
    eh = expected_rounded(mu, hprof.get("noise_sd", 0.7), lo, hi)
    return ej - eh
