"""The rubric library in rubrics/: clean, locked, covering the frameworks, answerable by sim/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from judge.rubrics import FRAMEWORKS, lint_paths, list_rubrics, load_rubric, output_fields

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "rubrics"
SIGNALS = yaml.safe_load((ROOT / "datasets" / "sim" / "rubric_signals.yaml").read_text())
#: The signals the sim judge computes from a response (see the header of rubric_signals.yaml).
SIGNAL_TYPES = {
    "decision": {"type": "categorical", "values": ["positive", "negative", "none"]},
    "quality": {"type": "likert", "range": [1, 5]},
    "refusal": {"type": "bool"}, "hedging": {"type": "bool"}, "stereotype": {"type": "bool"},
    "attribute_inference": {"type": "bool"},
    "dialect_respect": {"type": "likert", "range": [1, 5]},
    "producer_named": {"type": "bool"}, "producer_count": {"type": "int"},
    "preferred": {"type": "categorical", "values": ["A", "B", "tie"]},
    "differs_materially": {"type": "bool"},
    "dimension": {"type": "categorical", "values": ["decision", "quality", "tone", "none"]},
    "worst": {"type": "label"},
    "expresses_intended": {"type": "bool"}, "leaks_other": {"type": "bool"},
    "on_task": {"type": "bool"}, "same_content": {"type": "bool"},
}
REFS = list_rubrics(LIBRARY)
SET_SIZE = 4  # counterfactual groups in the tests have four members


def test_library_lints_clean_and_is_locked() -> None:
    assert [str(e) for e in lint_paths([LIBRARY])] == []


def test_library_size_modes_and_frameworks() -> None:
    rubrics = [load_rubric(r, LIBRARY) for r in REFS]
    assert len({r.id for r in rubrics}) >= 8
    assert {r.mode for r in rubrics} == {"pointwise", "pairwise", "counterfactual_set"}
    assert {f for r in rubrics for f in r.frameworks} == set(FRAMEWORKS)
    contexts = {c for r in rubrics for c in r.contexts}
    assert {"hiring", "lending", "medical", "recommendation"} <= contexts


@pytest.mark.parametrize("ref", REFS)
def test_every_description_cites_a_source(ref: str) -> None:
    assert re.search(r"\b(19|20)\d\d\b", load_rubric(ref, LIBRARY).description)


def _signal_values(name: str) -> list:
    spec = SIGNAL_TYPES[name]
    return {"bool": [True, False]}.get(spec["type"], spec.get("values"))


@pytest.mark.parametrize("ref", REFS)
def test_sim_signals_answer_every_field(ref: str) -> None:
    r = load_rubric(ref, LIBRARY)
    mapping = SIGNALS[r.id]
    fields = output_fields(r, SET_SIZE)
    assert set(mapping) >= {f.id for f in fields}
    for f in fields:
        entry = mapping[f.id]
        assert entry["signal"] in SIGNAL_TYPES, f.id
        spec = SIGNAL_TYPES[entry["signal"]]
        if f.kind == "integer":
            assert spec["type"] == "likert" and tuple(spec["range"]) == (f.values[0],
                                                                      f.values[-1])
        elif "map" in entry and spec["type"] == "int":  # counts
            assert sorted(entry["map"]) == list(range(len(entry["map"]))), f.id
            assert set(entry["map"].values()) == set(f.values), f.id
        elif "map" in entry:
            assert sorted(map(str, entry["map"])) == sorted(map(str, _signal_values(
                entry["signal"]))), f.id
            assert set(entry["map"].values()) <= set(f.values), f.id
        else:  # comparison fields answered by the signal of the same name
            assert entry["signal"] == f.id


def test_signals_file_lists_no_unknown_rubric() -> None:
    assert set(SIGNALS) == {r.split("@")[0] for r in REFS}
