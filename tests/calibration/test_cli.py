"""``judge calibrate``: standalone calibration and labelling sheets, through the shipped
``judge`` app (the same command the console script runs)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from judge._cli.calibrate import parse_scales, write_sample_sheet
from judge.calibration import ScaleSpec, simulate_basic
from judge.cli import app


def _invoke(*args: str):
    return CliRunner().invoke(app, ["calibrate", *args])


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
    r = _invoke("--judgments", str(jp), "--labels", str(hp), "--out", str(tmp_path / "out"),
                "--scale", "likert:1-5", "--map-labels", "item_id=gen", "--map-labels",
                "score=rating", "--B", "100")
    assert r.exit_code == 0, r.output
    assert "cohen_kappa=" in r.output and "gap dialect=b vs a" in r.output
    doc = json.loads((tmp_path / "out" / "calibration.json").read_text())
    assert doc["meta"]["group_attributes"] == ["dialect"]


def test_bad_scale_and_missing_mapping_exit_2(tmp_path):
    jp, hp = _files(tmp_path)
    base = ["--judgments", str(jp), "--labels", str(hp), "--out", str(tmp_path)]
    r = _invoke(*base, "--scale", "stars")
    assert r.exit_code == 2 and "--scale: scale 'stars' not understood" in r.output
    r = _invoke(*base)
    assert r.exit_code == 2 and "missing required field(s) ['item_id', 'score']" in r.output
    r = _invoke(*base, "--map-labels", "item_id")
    assert r.exit_code == 2
    assert r.output.strip() == ("error: --map-labels: 'item_id' is not OURS=THEIRS "
                                "(e.g. --map-labels item_id=generation_id)")


def test_sample_sheet_round_trip(tmp_path):
    jp, _ = _files(tmp_path)
    r = _invoke("sample", "--judgments", str(jp), "--n", "40", "--out", str(tmp_path / "sheet"))
    assert r.exit_code == 0, r.output
    # blind copies for raters (docs/LABELLING.md); the key keeps the weights and groups
    sheet = pd.read_csv(tmp_path / "sheet" / "raters" / "sheet-rater-1.csv")
    assert {"row_id", "response", "score.quality"} <= set(sheet.columns)
    assert not {"inclusion_prob", "judge_score", "group.dialect"} & set(sheet.columns)
    key = pd.read_json(tmp_path / "sheet" / "key.jsonl", lines=True)
    assert len(key) == 40 and key["inclusion_prob"].between(0, 1).all()
    assert key["raters"].map(len).sum() == 48  # 2 raters, 20% of items labelled twice
    r = _invoke("sample", "--judgments", str(jp), "--n", "40", "--out", str(tmp_path / "s3"),
                "--raters", "3", "--overlap", "0.5")
    assert r.exit_code == 0, r.output
    key = pd.read_json(tmp_path / "s3" / "key.jsonl", lines=True)
    assert len(list((tmp_path / "s3" / "raters").glob("sheet-rater-*.csv"))) == 3
    assert key["raters"].map(len).sum() == 60  # half of the 40 items labelled twice
    r = _invoke("--judgments", str(jp), "--labels", str(jp), "--out", str(tmp_path / "x"),
                "--raters", "3")
    assert r.exit_code == 2 and "--raters does not apply" in r.output


def test_write_sample_sheet_carries_text_and_rubric(tmp_path):
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(30)], "score": [1, 2, 3] * 10,
                          "group.g": ["a", "b"] * 15, "text": "hello"})
    paths = write_sample_sheet(items, tmp_path, 12, rubric="helpfulness",
                               criterion="helpful", seed=1)
    sheet = pd.read_json(paths["jsonl"], lines=True)
    assert (sheet["rubric"] == "helpfulness").all() and (sheet["response"] == "hello").all()
    assert (sheet["criteria"].map(lambda c: c[0]["id"]) == "helpful").all()



def test_weights_from_the_sheet_change_the_estimates(tmp_path):
    jp, hp = _files(tmp_path)
    assert _invoke("sample", "--judgments", str(jp), "--n", "60", "--out",
                   str(tmp_path / "sheet")).exit_code == 0
    key = pd.read_csv(tmp_path / "sheet" / "key.csv")
    labels = pd.read_csv(hp)
    labels[labels["gen"].isin(key["item_id"])].to_csv(hp, index=False)  # humans label the sheet
    common = ["--judgments", str(jp), "--labels", str(hp), "--map-labels", "item_id=gen",
              "--map-labels", "score=rating", "--B", "100"]
    plain = _invoke(*common, "--out", str(tmp_path / "plain"))
    weighted = _invoke(*common, "--weights", str(tmp_path / "sheet" / "key.csv"),
                       "--out", str(tmp_path / "weighted"))
    assert plain.exit_code == 0 and weighted.exit_code == 0, weighted.output
    meta = json.loads((tmp_path / "weighted" / "calibration.json").read_text())["meta"]
    assert json.dumps(meta) != json.dumps(
        json.loads((tmp_path / "plain" / "calibration.json").read_text())["meta"])


def test_map_judgments_renames_the_judgments_columns(tmp_path):
    jp, hp = _files(tmp_path)
    j = pd.read_csv(jp).rename(columns={"score": "judge_score"})
    j.to_csv(jp, index=False)
    r = _invoke("--judgments", str(jp), "--labels", str(hp), "--out", str(tmp_path / "o"),
                "--map-judgments", "score=judge_score", "--map-labels", "item_id=gen",
                "--map-labels", "score=rating", "--B", "100")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(("args", "message"), [
    (["--judgments", "j.csv"], "standalone calibration needs --judgments, --labels and --out"),
    (["cfg.yaml", "--scale", "binary"], "--scale does not apply to a run"),
    (["cfg.yaml", "--n", "5"], "--n does not apply to calibration"),
    (["sample"], "sample takes a CONFIG or --judgments FILE (one of them)"),
    (["sample", "cfg.yaml", "--judgments", "j.csv"], "sample takes a CONFIG or --judgments"),
    (["sample", "--judgments", "j.csv", "--n", "5"], "sample --judgments needs --out DIR"),
    (["sample", "cfg.yaml", "--labels", "l.csv"], "--labels does not apply to judge calibrate "
                                                  "sample"),
    (["a.yaml", "b.yaml"], "give one CONFIG"),
    ([], "give one CONFIG"),
])
def test_usage_errors_are_one_line_exit_2(args, message):
    r = _invoke(*args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_typer_usage_errors_exit_2():
    r = _invoke("--no-such-option")
    assert r.exit_code == 2 and "No such option" in r.output


def test_standalone_out_naming_an_existing_file_is_one_line(tmp_path):
    jp, lp = _files(tmp_path)
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    r = _invoke("--judgments", str(jp), "--labels", str(lp), "--out", str(target))
    assert r.exit_code == 2 and "is an existing file" in r.output
    assert target.read_text() == "keep me"
