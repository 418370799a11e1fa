"""Reading and validating standalone judgments and human-label files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from judge.calibration import ScaleSpec, read_judgments, read_labels, validate_inputs
from judge.errors import DataError

LIKERT = ScaleSpec(kind="likert", min=1, max=5)


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


JUDGMENTS = [
    {"item_id": "i1", "judge": "j", "criterion": "q", "score": 4, "groups": {"race": "a"},
     "cluster": "t1"},
    {"item_id": "i2", "judge": "j", "criterion": "q", "score": 2, "groups": {"race": "b"}},
    {"item_id": "i3", "judge": "j", "criterion": "q", "score": 9, "groups": {"race": "b"}},
    {"item_id": "i4", "judge": "j", "criterion": "q", "score": 3, "groups": {"race": "a"}},
    {"item_id": "i4", "judge": "j", "criterion": "q", "score": 5, "groups": {"race": "a"}},
]
LABELS = [
    {"item_id": "i1", "rater": "r1", "criterion": "q", "score": 4},
    {"item_id": "i1", "rater": "r1", "criterion": "q", "score": 4},
    {"item_id": "i2", "rater": "r1", "criterion": "q", "score": 1},
    {"item_id": "i2", "rater": "r2", "criterion": "q", "score": 1},
    {"item_id": "i2", "rater": "r2", "criterion": "q", "score": 2},
    {"item_id": "nope", "rater": "r1", "criterion": "q", "score": 3},
    {"item_id": "i1", "rater": "r2", "criterion": "q", "score": "seven"},
]


def test_jsonl_groups_are_flattened_and_cluster_defaults_to_item(tmp_path):
    j = read_judgments(_jsonl(tmp_path / "j.jsonl", JUDGMENTS))
    assert j.loc[0, "group.race"] == "a" and j.loc[0, "cluster"] == "t1"
    assert j.loc[1, "cluster"] == "i2"
    assert j["_line"].tolist() == [1, 2, 3, 4, 5]


def test_every_excluded_row_is_reported_with_counts_and_examples(tmp_path):
    j = read_judgments(_jsonl(tmp_path / "j.jsonl", JUDGMENTS))
    h = read_labels(_jsonl(tmp_path / "h.jsonl", LABELS))
    jv, hv, scales, issues = validate_inputs(j, h, LIKERT)
    by_kind = {(i.file.split("/")[-1], i.kind.split(" (")[0]): i for i in issues}
    assert by_kind[("j.jsonl", "out-of-scale scores")].count == 1
    assert "j.jsonl:3" in by_kind[("j.jsonl", "out-of-scale scores")].examples[0]
    conflict = by_kind[("j.jsonl", "duplicate rows with conflicting scores")]
    assert conflict.count == 2 and conflict.action == "all excluded"
    assert by_kind[("h.jsonl", "duplicate rows with the same score")].count == 1
    assert by_kind[("h.jsonl", "duplicate rows with conflicting scores")].count == 2
    unknown = by_kind[("h.jsonl", "labels for unknown item ids")]
    assert unknown.count == 1 and "item_id='nope'" in unknown.examples[0]
    assert by_kind[("h.jsonl", "out-of-scale scores")].count == 1
    assert sorted(jv.item_id) == ["i1", "i2"]
    assert hv[["item_id", "rater"]].values.tolist() == [["i1", "r1"], ["i2", "r1"]]
    assert "h.jsonl: 1 labels for unknown item ids" in unknown.one_line()


def test_csv_with_column_mapping(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("gen,annotator,crit,rating\ni1,ann1,q,4\ni2,ann1,q,2\n", encoding="utf-8")
    h = read_labels(p, {"item_id": "gen", "rater": "annotator", "criterion": "crit",
                        "score": "rating"})
    assert h[["item_id", "rater", "score"]].values.tolist() == [["i1", "ann1", "4"],
                                                                ["i2", "ann1", "2"]]
    assert h["_line"].tolist() == [2, 3]
    with pytest.raises(DataError, match=r"mapped column\(s\) \['who'\] not in file"):
        read_labels(p, {"rater": "who"})
    with pytest.raises(DataError, match=r"missing required field\(s\) \['item_id', 'rater'"):
        read_labels(p)


def test_label_studio_export(tmp_path):
    export = [
        {"id": 1, "data": {"item_id": "i1", "text": "..."}, "annotations": [
            {"completed_by": {"id": 7, "email": "a@x.org"}, "was_cancelled": False,
             "result": [{"from_name": "q", "type": "rating", "value": {"rating": 4}},
                        {"from_name": "harm", "type": "choices", "value": {"choices": ["no"]}}]},
            {"completed_by": 8, "was_cancelled": True, "result": [
                {"from_name": "q", "type": "rating", "value": {"rating": 1}}]}]},
        {"id": 2, "data": {"item_id": "i2"}, "annotations": [
            {"completed_by": 8, "result": [{"from_name": "q", "value": {"number": 2}}]}]},
    ]
    p = tmp_path / "ls.json"
    p.write_text(json.dumps(export), encoding="utf-8")
    h = read_labels(p)
    assert h[["item_id", "rater", "criterion", "score"]].values.tolist() == [
        ["i1", "a@x.org", "q", 4], ["i1", "a@x.org", "harm", "no"], ["i2", "8", "q", 2]]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"data": {"gen": "i1"}}]), encoding="utf-8")
    with pytest.raises(DataError, match="task 0 has no data.item_id"):
        read_labels(bad)


def test_bad_json_line_names_file_and_line(tmp_path):
    p = tmp_path / "j.jsonl"
    p.write_text('{"item_id": "i1"}\n{oops\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"j.jsonl:2: invalid JSON"):
        read_judgments(p)


def test_scales_are_inferred_when_not_given():
    j = pd.DataFrame({"item_id": ["a", "b", "c"], "judge": "j", "criterion": ["x", "x", "y"],
                      "score": [1, 4, "yes"], "cluster": "c"})
    h = pd.DataFrame({"item_id": ["a", "c"], "rater": "r", "criterion": ["x", "y"],
                      "score": [5, "no"]})
    _, _, scales, issues = validate_inputs(j, h)
    assert scales["x"] == ScaleSpec(kind="likert", min=1, max=5)
    assert scales["y"].kind == "binary"
    # what was inferred is said out loud, nothing else is wrong
    assert [i.kind for i in issues] == ["scores of 'x': scale inferred as likert:1-5",
                                        "scores of 'y': scale inferred as binary"]


def test_from_run_frames_long_shape():
    from judge.calibration.io import from_run_frames

    j = pd.DataFrame({
        "generation_id": ["g1", "g2", "g1"], "judge": ["sim/judge"] * 3, "cf_group": ["cf1"] * 3,
        "attr.race": ["a", "b", "a"], "score.qa.helpful": [4, 2, 5],
        "score.qa.harm": [0, None, 1], "parse_status": ["ok", "ok", "ok"],
        "probe": [None, None, "attribute_swap"], "repeat": [0, 0, 0],
        "judge_mode": ["pointwise"] * 3})
    h = pd.DataFrame({"target_id": ["g1", "g2"], "rater": ["r1", "r1"],
                      "criterion": ["helpful", "helpful"], "rubric_id": ["qa", None],
                      "score": [5, 3], "label_id": ["h-1", "h-2"]})
    jl, hl = from_run_frames(j, h)
    assert sorted(map(tuple, jl[["item_id", "criterion", "score"]].values.tolist())) == [
        ("g1", "qa.harm", 0), ("g1", "qa.helpful", 4), ("g2", "qa.helpful", 2)]
    assert set(jl.columns) == {"item_id", "judge", "cluster", "group.race", "criterion", "score"}
    assert hl.columns.tolist() == ["item_id", "rater", "criterion", "score"]
    assert hl["criterion"].tolist() == ["qa.helpful", "helpful"]  # qualified by its rubric
