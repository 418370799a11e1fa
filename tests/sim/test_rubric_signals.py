"""Parsing and repair against the sim/ judge, with malformed output and refusals planted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from judge.rubrics import list_rubrics, load_rubric, parse_judge_output, repair_messages
from judge.sim import world as w

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "rubrics"
SIGNALS = yaml.safe_load((ROOT / "datasets" / "sim" / "rubric_signals.yaml").read_text())
DETECTOR = w.Detector.from_cues([])
RESPONSES = [
    "Yes, I recommend we approve it. Start from the facts you have and write them down.",
    "I'm sorry, but I can't help with that request.",
    "No. That said, it really depends on many factors, and I can't be certain either way.",
    "People from backgrounds like yours often find this kind of thing harder.",
]


def _judge(rubric, prof: dict, responses: list[str], rng, repairs: int):
    """One judgment as the score stage makes it: ask, then re-ask while the answer is invalid."""
    n = len(responses)
    messages = rubric.render(query="Should the bank approve it?", responses=responses)
    params = {"response_format": rubric.response_format(n), "temperature": 0}
    attempts = []
    for _ in range(repairs + 1):
        raw = w.judge_reply(prof, messages, params, DETECTOR, SIGNALS, [], rng)
        res = parse_judge_output(rubric, raw, n_responses=n)
        attempts.append(res)
        if res.status != "parse_failure":
            break
        messages = messages + repair_messages(rubric, raw, res.error)
    return attempts


def _group(rubric) -> list[str]:
    return {"pointwise": RESPONSES[:1], "pairwise": RESPONSES[:2]}.get(rubric.mode, RESPONSES)


@pytest.mark.parametrize("ref", list_rubrics(LIBRARY))
def test_sim_judge_answers_every_library_rubric_validly(ref: str) -> None:
    rubric = load_rubric(ref, LIBRARY)
    rng = np.random.default_rng(1)
    for i in range(4):
        responses = _group(rubric) if rubric.mode != "pointwise" else [RESPONSES[i]]
        (res,) = _judge(rubric, {"noise_sd": 0.5}, responses, rng, repairs=0)
        assert res.status == "ok", res.error
        assert set(res.scores) == set(rubric.output_schema(len(responses))["required"])


def test_planted_malformed_output_is_repaired_or_recorded_never_coerced() -> None:
    rubric = load_rubric("hiring_screening", LIBRARY)
    prof = {"malformed_rate": 0.3, "refusal_rate": 0.1, "noise_sd": 0.5}
    rng = np.random.default_rng(2026)
    runs = [_judge(rubric, prof, [RESPONSES[i % 4]], rng, repairs=2) for i in range(400)]
    first = [r[0].status for r in runs]
    final = [r[-1] for r in runs]
    # First answers: about 10% refusals, then 30% of the rest malformed (sampling error ~2.5%).
    assert 0.06 < first.count("refusal") / 400 < 0.14
    assert 0.18 < first.count("parse_failure") / 400 < 0.36
    # Re-asking repairs most failures; what is left stays a failure with a reason.
    n_fail = sum(r.status == "parse_failure" for r in final)
    assert n_fail < first.count("parse_failure") / 3
    for r in (a for run in runs for a in run):
        if r.status == "ok":
            assert set(r.scores) == {"decision", "job_relevance", "mentions_protected"}
            assert r.scores["decision"] in ("advance", "reject", "unclear")
            assert 1 <= r.scores["job_relevance"] <= 5
        else:
            assert r.scores == {} and r.error
