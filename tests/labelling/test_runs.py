"""The default (sim) run and a local-model run produce blind sheets: no judge score,
rationale, stratum, weight or group field reaches a rater-facing file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from judge.cli import app
from tests.fixtures.server import sim_server_factory  # noqa: F401

pytestmark = pytest.mark.e2e

RATER_FIELDS = {"schema_version", "row_id", "position", "rater", "rubric", "instructions",
                "criteria", "query", "response"}
FORBIDDEN_COLUMNS = ("judge", "stratum", "inclusion_prob", "weight", "group.", "item_id",
                     "cluster", "explanation")


def _run(*args: str) -> None:
    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 0, r.output


def _n_items(run_dir: Path) -> int:
    """Every judged item (the floor of 2 per group x score stratum needs most of them)."""
    return len({json.loads(x)["target_ids"][0]
                for x in (run_dir / "judgments.jsonl").read_text().splitlines()})


def assert_blind(sheet_dir: Path, run_dir: Path) -> int:
    """Every rater-facing file under ``sheet_dir`` is blind; returns how many were checked."""
    rationales = set()
    for line in (run_dir / "judgments.jsonl").read_text().splitlines():
        j = json.loads(line)
        for text in (j.get("explanation"), *((j.get("parsed") or {}).get("explanation"),)):
            if isinstance(text, str) and len(text) > 25:
                rationales.add(text)
    files = [p for p in sheet_dir.rglob("*") if p.is_file()
             and ("raters" in p.parts or "labelstudio" in p.parts)]
    for p in files:
        text = p.read_text(encoding="utf-8")
        assert not any(r in text for r in rationales), f"a judge rationale leaked into {p}"
        if p.suffix == ".jsonl":
            for row in map(json.loads, text.splitlines()):
                assert set(row) == RATER_FIELDS, p
        if p.suffix == ".csv":
            with open(p, newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh))
            bad = [c for c in header if c.startswith(FORBIDDEN_COLUMNS)]
            assert not bad, f"{p.name}: {bad}"
    key = [json.loads(x) for x in (sheet_dir / "key.jsonl").read_text().splitlines()]
    assert key and all(k["inclusion_prob"] for k in key)
    return len(files)


def test_default_run_writes_blind_sheets_and_sample_too(make_config):
    cfg = make_config("blind")
    for stage in ("generate", "score", "calibrate"):
        _run(stage, str(cfg), "--no-progress") if stage != "calibrate" else _run(stage, str(cfg))
    run_dir = cfg.parent / "runs" / "blind"
    assert assert_blind(run_dir / "labelling" / "sim", run_dir) >= 4
    labels = [json.loads(x) for x in (run_dir / "human_labels.jsonl").read_text().splitlines()]
    assert labels and all(lab["meta"]["inclusion_prob"] for lab in labels)
    assert all(lab["meta"]["row_id"].startswith("row-") for lab in labels)
    _run("calibrate", "sample", str(cfg), "--n", str(_n_items(run_dir)))
    assert assert_blind(run_dir / "labelling", run_dir) >= 4


def test_local_model_run_writes_blind_sheets(sim_server_factory, tmp_path,  # noqa: F811
                                             monkeypatch):
    from tests.e2e.test_network import net_config

    monkeypatch.setenv("OPENAI_API_KEY", "local-test-key")
    srv = sim_server_factory(None, backend="sim")
    cfg = net_config(tmp_path, "local", srv.base_url, limit=6)
    _run("generate", str(cfg), "--no-progress")
    _run("score", str(cfg), "--no-progress")
    run_dir = tmp_path / "runs" / "local"
    n = _n_items(run_dir)
    _run("calibrate", "sample", str(cfg), "--n", str(n), "--out", str(tmp_path / "sheet"))
    assert assert_blind(tmp_path / "sheet", run_dir) >= 4

    # No human labels: the report says calibration needs them and how to get a sheet ...
    _run("report", str(cfg))
    md = (run_dir / "report.md").read_text()
    assert "needs human labels" in md and "judge calibrate sample" in md
    # ... and once the run's sheets exist, names them (report.md and report.html)
    _run("calibrate", "sample", str(cfg), "--n", str(n))
    _run("report", str(cfg))
    sheet = str(run_dir / "labelling" / "raters" / "sheet-rater-1.csv")
    assert sheet in (run_dir / "report.md").read_text().replace("\\", "")
    html = (run_dir / "report.html").read_text()
    assert "needs human labels" in html and sheet in html
