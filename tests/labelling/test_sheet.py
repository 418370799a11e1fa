"""Blind sheets: nothing a rater sees carries a judge score, stratum, weight or group."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from judge._cli.calibrate import write_sample_sheet
from judge.labelling import assign_raters, build_sheets, interleave, neutralise, read_sheet
from judge.labelling._sheet import max_run_length
from tests.labelling.conftest import GROUP_LEVELS, judged_items

RATER_FIELDS = {"schema_version", "row_id", "position", "rater", "rubric", "instructions",
                "criteria", "query", "response"}
CSV_FIELDS = ["row_id", "position", "rater", "rubric", "query", "response", "scale",
              "score.helpful", "score.safe", "skip_reason", "seconds"]


def _study(tmp_path, **kw):
    return write_sample_sheet(judged_items(), tmp_path, 24, seed=3, rubric="helpfulness",
                              criterion="helpful", **kw)


def test_no_judge_score_or_group_reaches_a_rater_file(tmp_path):
    paths = _study(tmp_path, raters=3, overlap=0.5)
    key = [json.loads(x) for x in paths["key"].read_text().splitlines()]
    strata = {k["stratum"] for k in key}
    weights = {repr(k["weight"]) for k in key} | {repr(k["inclusion_prob"]) for k in key}
    rater_files = [p for p in tmp_path.rglob("*") if p.is_file()
                   and ("raters" in p.parts or "labelstudio" in p.parts)]
    assert len(rater_files) == 3 * 2 + 2
    for p in rater_files:
        text = p.read_text(encoding="utf-8")
        for word in (*GROUP_LEVELS, "tribe", "judge_score", "inclusion_prob", "weight",
                     "stratum", "item-0", "cluster", *strata):
            assert word not in text, f"{word!r} leaked into {p.name}"
        assert not any(w in text for w in weights if len(w) > 4), p.name
    for p in tmp_path.glob("raters/*.jsonl"):
        for row in map(json.loads, p.read_text().splitlines()):
            assert set(row) == RATER_FIELDS
    for p in tmp_path.glob("raters/*.csv"):
        with open(p, newline="", encoding="utf-8") as fh:
            assert next(csv.reader(fh)) == CSV_FIELDS
    # the key holds what raters must not see
    assert {k["groups"]["tribe"] for k in key} == set(GROUP_LEVELS)
    assert all(k["weight"] == pytest.approx(1 / k["inclusion_prob"]) for k in key)


def test_copies_are_shuffled_independently_and_reproducibly(tmp_path):
    paths = _study(tmp_path / "a", raters=2, overlap=1.0)
    again = _study(tmp_path / "b", raters=2, overlap=1.0)
    one = [r.row_id for r in read_sheet(paths["jsonl:rater-1"])]
    two = [r.row_id for r in read_sheet(paths["jsonl:rater-2"])]
    assert sorted(one) == sorted(two) and one != two
    assert one == [r.row_id for r in read_sheet(again["jsonl:rater-1"])]
    man = json.loads(paths["manifest"].read_text())
    assert man["seed"] == 3 and man["raters"] == ["rater-1", "rater-2"]


def test_interleave_spreads_strata():
    strata = ["a"] * 30 + ["b"] * 30 + ["c"] * 15
    order = interleave(strata, seed=0)
    seq = [strata[i] for i in order]
    assert sorted(order) == list(range(75))
    assert max_run_length(seq) <= 3  # sorted input had runs of 30
    for s in "abc":  # each stratum appears in every quarter of the copy
        pos = [k for k, x in enumerate(seq) if x == s]
        assert {p * 4 // 75 for p in pos} == {0, 1, 2, 3}


def test_overlap_gives_items_two_raters_and_balanced_loads():
    who = assign_raters(100, ["r1", "r2", "r3"], overlap=0.3, per_item=2, seed=1)
    sizes = Counter(len(w) for w in who)
    assert sizes == {1: 70, 2: 30}
    load = Counter(r for w in who for r in w)
    assert max(load.values()) - min(load.values()) <= 1
    assert all(len(set(w)) == len(w) for w in who)
    with pytest.raises(ValueError, match="overlap must be between 0 and 1, got 1.5"):
        assign_raters(10, ["a", "b"], 1.5, 2, 0)
    with pytest.raises(ValueError, match=r"between 2 and the number of raters \(2\), got 3"):
        assign_raters(10, ["a", "b"], 0.5, 3, 0)


def test_build_sheets_refuses_duplicate_items():
    from judge.labelling import LabelItem
    from tests.labelling.conftest import HELPFUL

    it = LabelItem(item_id="x", query="q", response="r", criteria=[HELPFUL])
    with pytest.raises(ValueError, match="appears twice"):
        build_sheets([it, it], ["r1"], seed=0)


def test_csv_cells_are_neutralised(tmp_path):
    paths = _study(tmp_path, raters=1, overlap=0.0)
    with open(paths["csv"], newline="", encoding="utf-8") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert any(c.startswith("'=HYPERLINK(") for c in cells)
    assert any(c.startswith("'@SUM(") for c in cells)
    assert neutralise("=1+1") == "'=1+1" and neutralise("\rx") == "'\rx"
    assert neutralise("fine =1") == "fine =1" and neutralise(3) == 3
