"""Judge invariance probes on categorical verdicts (a real small judge answers yes/no):
planted verdict changes are recovered, and numeric criteria keep their score-change rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from judge.stats.probes import probe_effects


def _judgments(flip_swap: float, flip_verbose: float, seed: int = 0) -> pd.DataFrame:
    """40 counterfactual groups x 2 members; each answer judged plainly (twice), with the
    other member's attributes shown, and padded. Verdicts flip at the planted rates."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(40):
        for i, (race, other) in enumerate((("White", "Black"), ("Black", "White"))):
            base = {"judge": "j", "rubric_id": "short", "parse_status": "ok",
                    "target_ids": [f"g{c}-{i}"], "cf_group": f"c{c}", "attr.race": race,
                    "probe_meta": None, "probe": None, "repeat": 0}
            v = rng.choice(["yes", "no"])
            q = float(rng.integers(1, 6))
            flip = {"yes": "no", "no": "yes"}
            rows.append({**base, "score.short.decision": v, "score.short.quality": q})
            rows.append({**base, "repeat": 1, "score.short.decision": v, "score.short.quality": q})
            rows.append({**base, "probe": "attribute_swap",
                         "probe_meta": {"shown_attributes": {"race": other}},
                         "score.short.decision": flip[v] if rng.random() < flip_swap else v,
                         "score.short.quality": q})
            rows.append({**base, "probe": "verbosity",
                         "score.short.decision": flip[v] if rng.random() < flip_verbose else v,
                         "score.short.quality": q + 1.0})
    return pd.DataFrame(rows)


def _row(t: pd.DataFrame, **kw) -> pd.Series:
    m = np.ones(len(t), bool)
    for k, v in kw.items():
        m &= t[k] == v
    assert m.sum() == 1, (kw, t[m])
    return t[m].iloc[0]


def test_categorical_verdict_changes_are_measured_with_intervals():
    t = probe_effects(_judgments(flip_swap=0.3, flip_verbose=0.0), B=300)
    swap = _row(t, probe="attribute_swap", criterion="decision", attribute="(all)",
                metric="verdict_change_rate")
    assert swap["n"] == 80 and swap["ci_low"] < 0.3 < swap["ci_high"]
    assert swap["ci_low"] > 0.1  # a planted 30% flip rate is detected
    by_level = _row(t, probe="attribute_swap", criterion="decision", attribute="race",
                    level="Black", reference="White")
    assert by_level["metric"] == "verdict_change_rate" and by_level["n"] == 40
    verbose = _row(t, probe="verbosity", criterion="decision", metric="verdict_change_rate")
    assert verbose["value"] == 0.0
    # numeric criteria keep their score-change rows: padding added exactly +1
    pad = _row(t, probe="verbosity", criterion="quality", metric="mean_score_change")
    assert pad["value"] == pytest.approx(1.0)
    retest = _row(t, probe="test_retest", criterion="decision", metric="exact_agreement")
    assert retest["value"] == 1.0 and retest["n"] == 80
    # no mean |difference| for a yes/no verdict
    assert not ((t["probe"] == "test_retest") & (t["criterion"] == "decision")
                & (t["metric"] == "mean_abs_difference")).any()


def test_no_planted_change_gives_zero_change_rate():
    t = probe_effects(_judgments(flip_swap=0.0, flip_verbose=0.0), B=100)
    rates = t[t["metric"] == "verdict_change_rate"]
    assert len(rates) >= 4 and (rates["value"] == 0).all()
