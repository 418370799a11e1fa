"""bench/bench_findings.py's summary: what it counts as coverage, recall and false claims."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_findings",
                                                  ROOT / "bench/bench_findings.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _planted(key: str, planted: float, ci, found: bool, nc: int = 20):
    return {"key": key, "source": "metrics", "planted": planted, "value": sum(ci) / 2,
            "ci": list(ci), "n_clusters": nc, "warned": False, "found": found}


def test_summary_counts_coverage_headline_coverage_recall_and_null_claims():
    b = _bench()
    k = "|".join(["quality_diff", "helpfulness", "g", "j", "dialect", "AAE", "None", "SAE",
                  "None", "None"])
    other = k.replace("AAE", "X")
    runs = [
        {"world": "default", "seed": 0, "headlines": [k], "findings": [k],
         "planted": [_planted(k, -0.3, (-0.5, -0.1), True), _planted(other, 0.0, (0.1, 0.2),
                                                                     False, nc=3)]},
        {"world": "default", "seed": 1, "headlines": [k], "findings": [k],
         "planted": [_planted(k, -0.3, (-0.25, -0.1), True)]},
        {"world": "null", "seed": 0, "headlines": [], "findings": [other], "planted": []},
        {"world": "null", "seed": 1, "headlines": [], "findings": [], "planted": []},
    ]
    s = b.summarize(runs)
    d = s["default"]
    assert d["coverage"] == 1 / 3 and d["intervals"] == 3
    assert d["coverage_10plus_clusters"] == 0.5 and d["intervals_10plus_clusters"] == 2
    assert d["coverage_of_headline_intervals"] == 0.5
    assert d["headline_intervals_with_a_planted_value"] == 2
    assert d["recall"] == {k: 1.0}
    assert s["null"]["share"] == 0.5 and s["null"]["headline_share"] == 0.0
