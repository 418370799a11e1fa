"""``judge labels check`` and ``judge labels import`` on a study's answers."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from judge._cli.calibrate import write_sample_sheet
from judge.cli import app
from judge.labelling import Answer, AnswerLog, read_sheet
from judge.labels import read_human_labels
from tests.labelling.conftest import judged_items


def _answers(tmp_path):
    paths = write_sample_sheet(judged_items(), tmp_path / "study", 24, seed=4, rubric="helpfulness",
                               criterion="helpful", raters=3, overlap=1.0)
    log = AnswerLog(tmp_path / "labels.jsonl")
    for r, rater in enumerate(("rater-1", "rater-2", "rater-3")):
        for k, row in enumerate(read_sheet(paths[f"jsonl:{rater}"])):
            h = sum(map(ord, row.row_id)) % 5
            if rater == "rater-3" and k < 3:
                log.append(Answer(row_id=row.row_id, rater=rater, skipped=True,
                                  skip_reason="unclear", answered_at="t", seconds=2.0))
                continue
            score = 1 + (h + (k % 2 if r == 2 else 0)) % 5
            log.append(Answer(row_id=row.row_id, rater=rater, answered_at="t",
                              scores={"helpful": score, "safe": "yes" if h % 2 else "no"},
                              seconds=20.0 + k))
    return tmp_path / "study", tmp_path / "labels.jsonl"


def test_labels_check_and_import(tmp_path):
    study, labels = _answers(tmp_path)
    out = tmp_path / "check.json"
    r = CliRunner().invoke(app, ["labels", "check", str(labels), "--key", str(study),
                                 "--B", "50", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "helpful (ordinal): alpha among humans" in r.output
    assert "safe (nominal): alpha among humans 1.000" in r.output
    doc = json.loads(out.read_text())
    assert {c["criterion"] for c in doc["criteria"]} == {"helpful", "safe"}
    skip = {x["rater"]: x["skip_rate"] for x in doc["raters"]}
    assert skip["rater-3"] == 3 / 16 and skip["rater-1"] == 0
    r = CliRunner().invoke(app, ["labels", "import", str(labels), "--key", str(study),
                                 "--out", str(tmp_path / "human.jsonl")])
    assert r.exit_code == 0, r.output
    got = list(read_human_labels(tmp_path / "human.jsonl"))
    assert len(got) == (24 * 2 - 3) * 2  # overlap 1.0: every item has 2 of the 3 raters
    assert all(x.meta["inclusion_prob"] and x.target_id.startswith("item-") for x in got)
    r = CliRunner().invoke(app, ["labels", "import", str(labels), "--key", str(study),
                                 "--out", str(tmp_path / "human.csv")])
    assert r.exit_code == 0, r.output
    from judge.calibration import read_labels

    df = read_labels(tmp_path / "human.csv")
    assert len(df) == len(got) and set(df["criterion"]) == {"helpful", "safe"}
    again = sorted((x.target_id, x.rater, x.criterion, str(x.score))
                   for x in read_human_labels(tmp_path / "human.csv"))
    assert again == sorted((x.target_id, x.rater, x.criterion, str(x.score)) for x in got)


def test_labels_check_needs_the_key(tmp_path):
    _, labels = _answers(tmp_path)
    r = CliRunner().invoke(app, ["labels", "check", str(labels)])
    assert r.exit_code == 2 and "no key.jsonl in" in r.output


def test_run_reads_page_answers_through_the_key(tmp_path):
    """``human_labels.path`` may name an answers file; the key beside it restores items."""
    from types import SimpleNamespace

    from judge.stages.calibrate import _label_source

    study, labels = _answers(tmp_path)
    moved = study / "answers.jsonl"
    moved.write_bytes(labels.read_bytes())
    hl = SimpleNamespace(path=str(moved), simulate=None)
    got = list(_label_source(SimpleNamespace(cfg=SimpleNamespace(human_labels=hl))))
    assert len(got) == (24 * 2 - 3) * 2
    assert {x.rubric_id for x in got} == {"helpfulness"}
    assert all(x.meta["inclusion_prob"] for x in got)
