"""Budget caps: a cap reached mid-run stops cleanly; raising it resumes (sim prices)."""

from __future__ import annotations

import json

import pytest

import judge
from judge.config import load_config

pytestmark = pytest.mark.e2e


def test_budget_cap_stops_then_resumes_after_raising(make_config):
    # sim/generator costs $0.15/$0.60 per M tokens: ~60 calls cost ~$0.0006.
    path = make_config("budget", budget_usd=0.0002, generators=[
        {"model": "sim/generator", "samples": 2, "concurrency": 2}], human_labels=None)
    cfg = load_config(path)
    first = judge.run(cfg, stages=["generate", "score"])
    gen = first["generate"]
    assert gen["stopped"] and "budget" in gen["stopped"]
    assert 0 < gen["written"] < gen["planned"]
    assert "score" not in first  # later stages do not start after a budget stop
    m = json.loads((cfg.run_dir / "manifest.json").read_text())
    assert m["status"] == "stopped" and "budget" in m["stopped_reason"]
    assert m["cost"]["total_usd"] >= 0.0002
    n_before = m["counts"]["generations"]
    assert n_before == gen["written"]  # nothing lost, nothing half-written
    # Same cap again: nothing new is scheduled.
    again = judge.run(cfg, stages=["generate"])
    assert again["generate"]["written"] == 0 and again["generate"]["stopped"]
    # Raise the cap: the run resumes and finishes, without redoing finished items.
    cfg2 = load_config(make_config("budget", budget_usd=1.0, generators=[
        {"model": "sim/generator", "samples": 2, "concurrency": 2}], human_labels=None))
    done = judge.run(cfg2, stages=["generate", "score"])
    assert done["generate"]["skipped"] == n_before
    assert done["generate"]["written"] == gen["planned"] - n_before
    assert done["score"]["written"] > 0 and not done["score"]["stopped"]
    m2 = json.loads((cfg.run_dir / "manifest.json").read_text())
    assert m2["status"] == "ok" and m2["counts"]["generations"] == gen["planned"]
