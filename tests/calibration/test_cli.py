"""CLI functions for standalone calibration and labelling sheets."""

from __future__ import annotations

import json

import pandas as pd
import typer
from typer.testing import CliRunner

from judge._cli.calibrate import (
    calibrate_standalone_cmd,
    parse_scales,
    sample_sheet_cmd,
    write_sample_sheet,
)
from judge.calibration import ScaleSpec, simulate_basic


def _app():
    app = typer.Typer()
    app.command("calibrate")(calibrate_standalone_cmd)
    app.command("sample")(sample_sheet_cmd)
    return app


def _files(tmp_path):
    j, h, _ = simulate_basic(3, n_clusters=20, n_labelled=100)
    j = j.rename(columns={"group.group": "group.dialect"})
    jp, hp = tmp_path / "judgments.csv", tmp_path / "labels.csv"
    j.to_csv(jp, index=False)
    h.rename(columns={"item_id": "gen", "score": "rating"}).to_csv(hp, index=False)
    return jp, hp


def test_parse_scales():
    assert parse_scales(["likert:1-5"]) == ScaleSpec(kind="likert", min=1, max=5)
    assert parse_scales(["q=binary", "c=categorical:a,b"])["c"].labels == ("a", "b")


def test_standalone_calibrate_command(tmp_path):
    jp, hp = _files(tmp_path)
    r = CliRunner().invoke(_app(), ["calibrate", "--judgments", str(jp), "--labels", str(hp),
                                    "--out", str(tmp_path / "out"), "--scale", "likert:1-5",
                                    "--map-labels", "item_id=gen", "--map-labels",
                                    "score=rating", "--B", "100"])
    assert r.exit_code == 0, r.output
    assert "cohen_kappa=" in r.output and "gap dialect=b vs a" in r.output
    doc = json.loads((tmp_path / "out" / "calibration.json").read_text())
    assert doc["meta"]["group_attributes"] == ["dialect"]


def test_bad_scale_and_missing_mapping_exit_2(tmp_path):
    jp, hp = _files(tmp_path)
    base = ["calibrate", "--judgments", str(jp), "--labels", str(hp), "--out", str(tmp_path)]
    r = CliRunner().invoke(_app(), [*base, "--scale", "stars"])
    assert r.exit_code == 2 and "--scale: scale 'stars' not understood" in r.output
    r = CliRunner().invoke(_app(), base)
    assert r.exit_code == 2 and "missing required field(s) ['item_id', 'score']" in r.output


def test_sample_sheet_round_trip(tmp_path):
    jp, _ = _files(tmp_path)
    r = CliRunner().invoke(_app(), ["sample", "--judgments", str(jp), "--n", "40",
                                    "--out", str(tmp_path / "sheet")])
    assert r.exit_code == 0, r.output
    # blind copies for raters (docs/LABELLING.md); the key keeps the weights and groups
    sheet = pd.read_csv(tmp_path / "sheet" / "raters" / "sheet-rater-1.csv")
    assert {"row_id", "response", "score.quality"} <= set(sheet.columns)
    assert not {"inclusion_prob", "judge_score", "group.dialect"} & set(sheet.columns)
    key = pd.read_json(tmp_path / "sheet" / "key.jsonl", lines=True)
    assert len(key) == 40 and key["inclusion_prob"].between(0, 1).all()
    assert key["raters"].map(len).sum() == 48  # 2 raters, 20% of items labelled twice


def test_write_sample_sheet_carries_text_and_rubric(tmp_path):
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(30)], "score": [1, 2, 3] * 10,
                          "group.g": ["a", "b"] * 15, "text": "hello"})
    paths = write_sample_sheet(items, tmp_path, 12, rubric="helpfulness",
                               criterion="helpful", seed=1)
    sheet = pd.read_json(paths["jsonl"], lines=True)
    assert (sheet["rubric"] == "helpfulness").all() and (sheet["response"] == "hello").all()
    assert (sheet["criteria"].map(lambda c: c[0]["id"]) == "helpful").all()
