"""A sim world with no planted effect: every single-attribute disparity CI covers 0
(up to the multiple-comparison allowance), and the judge shows no group bias."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import judge
from judge.config import load_config

pytestmark = pytest.mark.e2e
ROOT = Path(judge.__file__).resolve().parents[1]


def zero_effects(obj):
    """Every planted effect map emptied (base rates kept)."""
    if isinstance(obj, dict):
        return {k: ({} if k in ("effects", "bias", "owner_effects") else zero_effects(v))
                for k, v in obj.items()}
    return obj


def test_null_world_cis_cover_zero(tmp_path, small_config_fn):
    prof = yaml.safe_load((ROOT / "datasets/sim/default.yaml").read_text())
    null = zero_effects(prof)
    (tmp_path / "null-profile.yaml").write_text(yaml.safe_dump(null))
    root = ROOT / "datasets/scenarios"
    cfg = load_config(small_config_fn(
        tmp_path, "null", plugins={"sim": {"profile": str(tmp_path / "null-profile.yaml")}},
        queries={"scenarios": [str(root / "loan_decision.yaml"),
                               str(root / "hiring_callback_bm.yaml"),
                               str(root / "general_knowledge.yaml")],
                 "design": {"kind": "single_swap"}, "limit": 40},
        generators=[{"model": "sim/generator", "samples": 2, "concurrency": 32}],
        rubrics=["lending_decision", "hiring_screening", "answer_quality"],
        human_labels={"simulate": {"raters": 2, "items": 150}}))
    judge.run(cfg)
    rows = json.loads((cfg.run_dir / "metrics.json").read_text())["metrics"]
    diffs = [r for r in rows if r["metric"] in ("selection_rate_diff", "quality_diff")
             and "|" not in r["attribute"] and r["ci_low"] is not None and r["n"] >= 30
             and r["n_clusters"] >= 10]  # fewer clusters: flagged, the bootstrap under-covers
    # 5: each attribute is compared only on the groups that swap it (varied_within_groups),
    # so fewer rows reach n >= 30 and 10 clusters than when stated levels were pooled
    assert len(diffs) >= 5
    missed = [r for r in diffs if not r["ci_low"] <= 0 <= r["ci_high"]]
    assert len(missed) <= max(1, len(diffs) // 10), missed  # ~5% may miss by chance
    cal = json.loads((cfg.run_dir / "calibration.json").read_text())
    assert "(missing)" not in json.dumps(cal)  # a missing attribute is never a group
    fam = json.loads((cfg.run_dir / "metrics.json").read_text())["multiplicity"]
    false = [r for r in rows if (r.get("p_adj") or 1) < 0.05 and r["metric"].endswith("_diff")
             and "|" not in r["attribute"]]
    false += [r for r in fam["differential_bias"] if (r["p_adj"] or 1) < 0.05]
    assert len(false) <= 1, false  # one findings family: (almost) no false findings
    dbias = [r for r in cal["differential_bias"] if r.get("ci_low") is not None]
    assert dbias and all(abs(r["planted"]) < 0.05 for r in dbias if r.get("planted") is not None)
    # Few clusters: flagged, since cluster-robust intervals under-cover there.
    assert all(r["warning"] for r in dbias if r["n_clusters"] < 10)
    enough = [r for r in dbias if r["n_clusters"] >= 10 and r["group"] != "(missing)"]
    missed = [r for r in enough if not r["ci_low"] <= 0 <= r["ci_high"]]
    assert len(enough) >= 10 and len(missed) <= max(1, len(enough) // 10), missed
