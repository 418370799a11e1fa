"""Run comparison: vectorised bootstrap vs a row-weighted loop, planted differences, outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from judge.errors import UsageError
from judge.frames import load
from judge.report.compare import (
    compare_judgments,
    compare_runs,
    compare_tables,
    diff_rows,
    outcome_frame,
)
from judge.report.compare_html import write_comparison
from judge.stats.bootstrap import ClusterBootstrap

LEVELS = [("Black", "female"), ("Black", "male"), ("White", "female"), ("White", "male")]


def write_run(d: Path, name: str, generator: str, gap: float, n_groups: int = 24,
              seed: int = 0, group_prefix: str = "cf", with_metrics: bool = True) -> Path:
    """A synthetic run directory: ``n_groups`` counterfactual groups × 4 race/gender levels,
    one pointwise judgment each; quality = group effect + ``gap`` if Black + noise."""
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True)
    q, g, j = [], [], []
    for k in range(n_groups):
        cf = f"{group_prefix}-{k}"
        base = rng.normal(3.0, 0.6)
        for race, gender in LEVELS:
            attrs = {"race": race, "gender": gender}
            qid, gid = f"q-{cf}-{race}-{gender}", f"g-{name}-{cf}-{race}-{gender}"
            quality = base + (gap if race == "Black" else 0.0) + rng.normal(0, 0.3)
            fav = rng.random() < (0.4 if race == "Black" else 0.6) + gap / 10
            q.append({"query_id": qid, "cf_group": cf, "attributes": attrs,
                      "template_id": "main", "ground_truth": {}, "expression": {}})
            g.append({"generation_id": gid, "query_id": qid, "response": "r", "sample": 0,
                      "attributes": attrs})
            j.append({"judgment_id": f"j-{gid}", "target_ids": [gid], "query_ids": [qid],
                      "cf_group": cf, "generator": generator, "judge": "sim/judge",
                      "rubric_id": "decision_dev", "mode": "pointwise", "probe": None,
                      "repeat": 0, "parse_status": "ok", "attributes": attrs,
                      "scores": {"quality": round(float(quality), 3),
                                 "decision": "favourable" if fav else "unfavourable"}})
    # one parse failure and one probe judgment: both must be left out
    j.append({**j[0], "judgment_id": "j-failed", "parse_status": "parse_failure",
              "scores": {}})
    j.append({**j[1], "judgment_id": "j-probe", "probe": "position_swap",
              "scores": {"quality": 99.0, "decision": "favourable"}})
    for fname, rows in (("queries", q), ("generations", g), ("judgments", j)):
        (d / f"{fname}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    manifest = {"name": name, "generators": [generator], "judges": ["sim/judge"],
                "rubrics": {"decision_dev@1.0.0": "abc"}, "counts": {"judgments": len(j)},
                "config": {"report": {"min_cell": 10, "reference": {}}}}
    (d / "manifest.json").write_text(json.dumps(manifest))
    if with_metrics:
        rows = [{"metric": "score_gap:decision_dev.quality", "generator": generator,
                 "attribute": "race", "level": "Black", "reference": "White", "value": gap,
                 "ci_low": gap - 0.2, "ci_high": gap + 0.2, "n": 96, "n_clusters": 24,
                 "method": "cluster_bootstrap", "warning": None},
                {"metric": "selection_rate_diff", "generator": generator, "attribute": "race",
                 "level": "Black", "reference": "White", "value": gap / 10,
                 "ci_low": gap / 10 - 0.05, "ci_high": gap / 10 + 0.05, "n": 96,
                 "n_clusters": 24, "method": "cluster_bootstrap", "warning": None},
                {"metric": "cell_n", "generator": generator, "attribute": "race",
                 "level": "Black", "reference": None, "value": 48 + gap, "ci_low": None,
                 "ci_high": None, "n": 48, "n_clusters": 24, "method": "count",
                 "warning": None}]
        (d / "metrics.json").write_text(json.dumps({"schema_version": 1, "metrics": rows}))
    return d


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    return (write_run(tmp_path / "a", "a", "sim/generator", gap=-0.5, seed=1),
            write_run(tmp_path / "b", "b", "sim/generator-b", gap=0.0, seed=2))


def _reference_delta(fa, fb, col, attr, level, ref, Wa, Wb, clusters):
    """B − A gap differences per replicate by explicit row weighting (the slow way)."""
    def gaps(f, W):
        f = f[f[col].notna()]
        cidx = clusters.get_indexer(f["cf_group"])
        out = []
        for w in W:
            rw = w[cidx]
            m = {lv: np.sum(rw * f[col] * (f[attr] == lv)) / np.sum(rw * (f[attr] == lv))
                 for lv in (level, ref)}
            out.append(m[level] - m[ref])
        return np.array(out)
    return gaps(fb, Wb) - gaps(fa, Wa)


def test_paired_bootstrap_matches_row_weighted_loop(runs):
    fa, fb = outcome_frame(load(runs[0])), outcome_frame(load(runs[1]))
    col = "out.score:decision_dev.quality"
    rows = diff_rows(fa, fb, "score:decision_dev.quality", "race", "White", B=300, seed=5,
                     alpha=0.05, min_cell=10)
    assert len(rows) == 1 and rows[0]["method"].startswith("paired")
    clusters = pd.Index(sorted(set(fa["cf_group"]) | set(fb["cf_group"])))
    both = np.r_[fa["cf_group"].astype(str), fb["cf_group"].astype(str)]
    W = ClusterBootstrap(both, 300, 5).weights()  # one draw for both runs, sorted clusters
    ref = _reference_delta(fa, fb, col, "attr.race", "Black", "White", W, W, clusters)
    lo, hi = np.quantile(ref, [0.025, 0.975])
    assert rows[0]["ci_low"] == pytest.approx(lo, abs=1e-9)
    assert rows[0]["ci_high"] == pytest.approx(hi, abs=1e-9)
    plain = [f[f[col].notna()].groupby("attr.race")[col].mean() for f in (fa, fb)]
    assert rows[0]["value_a"] == pytest.approx(plain[0]["Black"] - plain[0]["White"])
    assert rows[0]["value"] == pytest.approx(
        (plain[1]["Black"] - plain[1]["White"]) - (plain[0]["Black"] - plain[0]["White"]))
    assert rows[0]["n"] == 192 and rows[0]["n_clusters"] == 24  # probe/failure left out


def test_independent_bootstrap_when_runs_share_no_groups(tmp_path):
    a = write_run(tmp_path / "a", "a", "g", gap=-0.5, seed=1, group_prefix="x")
    b = write_run(tmp_path / "b", "b", "g", gap=0.0, seed=2, group_prefix="y", n_groups=18)
    fa, fb = outcome_frame(load(a)), outcome_frame(load(b))
    rows = diff_rows(fa, fb, "score:decision_dev.quality", "race", "White", B=300, seed=5,
                     alpha=0.05, min_cell=10)
    assert rows[0]["method"] == "independent cluster bootstraps"
    clusters = pd.Index(sorted(set(fa["cf_group"]) | set(fb["cf_group"])))
    ia = clusters.get_indexer(sorted(set(fa["cf_group"])))
    ib = clusters.get_indexer(sorted(set(fb["cf_group"])))
    Wa, Wb = np.zeros((300, len(clusters))), np.zeros((300, len(clusters)))
    Wa[:, ia] = ClusterBootstrap(fa["cf_group"], 300, 5).weights()
    Wb[:, ib] = ClusterBootstrap(fb["cf_group"], 300, 6).weights()
    ref = _reference_delta(fa, fb, "out.score:decision_dev.quality", "attr.race", "Black",
                           "White", Wa, Wb, clusters)
    assert rows[0]["ci_low"] == pytest.approx(np.quantile(ref, 0.025), abs=1e-9)
    assert rows[0]["ci_high"] == pytest.approx(np.quantile(ref, 0.975), abs=1e-9)


def test_planted_difference_is_recovered_and_paired_ci_is_narrower(tmp_path):
    a = write_run(tmp_path / "a", "a", "g", gap=-0.5, seed=1, n_groups=60)
    b = write_run(tmp_path / "b", "b", "g", gap=0.0, seed=1, n_groups=60)  # same groups/noise
    res = compare_judgments(load(a), load(b), B=400, seed=0)
    row = res[(res["metric"] == "score_gap:decision_dev.quality") &
              (res["attribute"] == "race")].iloc[0]
    assert row["ci_low"] <= 0.5 <= row["ci_high"] and row["ci_low"] > 0
    assert row["generator"] == "g"  # same generator in both runs: stratified by it
    gender = res[(res["metric"] == "score_gap:decision_dev.quality") &
                 (res["attribute"] == "gender")].iloc[0]
    assert gender["ci_low"] <= 0 <= gender["ci_high"]  # nothing planted on gender
    c = tmp_path / "c"
    write_run(c, "c", "g", gap=0.0, seed=1, n_groups=60, group_prefix="other")
    indep = compare_judgments(load(a), load(c), B=400, seed=0)
    irow = indep[(indep["metric"] == "score_gap:decision_dev.quality") &
                 (indep["attribute"] == "race")].iloc[0]
    assert (row["ci_high"] - row["ci_low"]) < (irow["ci_high"] - irow["ci_low"])


def test_compare_judgments_outcomes_and_levels(runs):
    res = compare_judgments(load(runs[0]), load(runs[1]), B=200, seed=0)
    assert set(res["metric"]) == {"favourable_rate:decision_dev.decision",
                                  "demographic_parity_difference",
                                  "mean_score:decision_dev.quality",
                                  "score_gap:decision_dev.quality"}
    assert res["generator"].isna().all()  # different generators: pooled per run
    dp = res[res["metric"] == "demographic_parity_difference"]
    assert sorted(zip(dp["attribute"], dp["level"], dp["reference"])) == [
        ("gender", "female", "male"), ("race", "Black", "White")]
    assert (res["source"] == "judgments").all()
    assert res["ci_low"].le(res["value"]).all() and res["ci_high"].ge(res["value"]).all()


def test_compare_tables_independent_normal_approximation():
    a = pd.DataFrame([{"metric": "m", "attribute": "race", "level": "B", "reference": "W",
                       "value": 0.1, "ci_low": 0.0, "ci_high": 0.2, "n": 50, "n_clusters": 10,
                       "generator": "g1", "warning": "small"}])
    b = a.assign(value=0.3, ci_low=0.1, ci_high=0.5, generator="g2", warning=None)
    out = compare_tables(a, b)
    assert len(out) == 1
    r = out.iloc[0]
    assert r["value"] == pytest.approx(0.2)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((0.2 - math.sqrt(0.05),
                                                         0.2 + math.sqrt(0.05)))
    assert r["warning"] == "A: small" and r["n"] == 100
    assert "generator" not in out or out["generator"].isna().all()
    two_gens = pd.concat([a, a.assign(generator="g2")])
    keyed = compare_tables(two_gens, pd.concat([b.assign(generator="g1"), b]))
    assert sorted(keyed["generator"]) == ["g1", "g2"]
    assert compare_tables(a, b.assign(metric="other")).empty


def test_compare_runs_and_written_outputs(runs, tmp_path):
    res = compare_runs(*runs, B=200, seed=0)
    assert set(res["source"]) == {"judgments", "metrics"}
    m = res[res["source"] == "metrics"].iloc[0]
    assert m["value"] == pytest.approx(0.5)
    j = res[(res["source"] == "judgments") & (res["metric"] == m["metric"]) &
            (res["attribute"] == "race")].iloc[0]
    assert j["ci_low"] <= 0.5 <= j["ci_high"]
    paths = write_comparison(*runs, tmp_path / "cmp", B=200)
    assert sorted(p.name for p in paths.values()) == ["compare.csv", "compare.html",
                                                      "compare.json", "compare.md"]
    text = paths["json"].read_text()
    assert "NaN" not in text
    doc = json.loads(text)
    assert len(doc["differences"]) == len(res) and doc["bootstrap"] == 200
    html = paths["html"].read_text()
    assert html.count("<img ") >= 4 and "configs differ in: <ul>" in html and "<li>generators: " in html
    # a plot per judgments outcome and per headline metric; every other row only in the table
    from judge.report.rows import HEADLINE

    plotted = {m for s, m in zip(res["source"], res["metric"])
               if s == "judgments" or m in HEADLINE}
    assert html.count("<img ") == len(plotted)
    others = set(res.loc[res["source"] == "metrics", "metric"]) - plotted
    assert others, "the fixture has no non-headline metric: the check below tests nothing"
    for m in others:
        assert f"{m}: difference between runs" not in html and f"<td>{m}</td>" in html
    assert "| judgments | score_gap:decision_dev.quality | race | Black vs White |" in \
        paths["md"].read_text()


def test_compare_rejects_a_non_run_directory(tmp_path, runs):
    with pytest.raises(UsageError, match="no manifest.json"):
        compare_runs(runs[0], tmp_path / "missing")


def test_cli_compare(runs, tmp_path):
    import typer
    from typer.testing import CliRunner

    from judge._cli.report import report

    app = typer.Typer()
    app.command(name="report")(report)
    app.command(name="other")(lambda: None)
    r = CliRunner().invoke(app, ["report", "--compare", str(runs[0]), str(runs[1]), "--out",
                                 str(tmp_path / "o"), "--bootstrap", "100"])
    assert r.exit_code == 0, r.output
    assert f"compare: {tmp_path / 'o' / 'compare.html'}" in r.output
    r = CliRunner().invoke(app, ["report", "--compare", str(runs[0]), str(tmp_path / "nope")])
    assert r.exit_code == 2 and "not a run directory" in r.output
    r = CliRunner().invoke(app, ["report"])
    assert r.exit_code == 2 and "missing CONFIG" in r.output


def test_outcomes_follow_the_rubric_scales():
    from types import SimpleNamespace

    j = pd.DataFrame({
        "rubric_id": ["lending_decision"] * 3 + ["unawareness"] * 2,
        "rubric_version": ["1.0.0"] * 5, "parse_status": "ok", "probe": None, "repeat": 0,
        "judge_mode": "pointwise",
        "score.lending_decision.decision": ["approve", "deny", "unclear", None, None],
        "score.lending_decision.reasoning_quality": [4, 2, 3, None, None],
        "score.unawareness.infers_attribute": [None, None, None, "yes", "no"]})
    out = outcome_frame(SimpleNamespace(judgments=j))
    dec = out["out.decision:lending_decision.decision"]
    assert dec.iloc[:2].tolist() == [1.0, 0.0] and math.isnan(dec.iloc[2])  # unclear: no value
    assert out["out.score:lending_decision.reasoning_quality"].iloc[:3].tolist() == [4, 2, 3]
    assert out["out.rate:unawareness.infers_attribute"].iloc[3:].tolist() == [1.0, 0.0]
    from judge.report.compare import metric_names
    assert metric_names("rate:unawareness.infers_attribute") == (
        "rate:unawareness.infers_attribute", "rate_gap:unawareness.infers_attribute")
    unknown = j.rename(columns=lambda c: c.replace("lending_decision", "no_such_rubric")
                       ).assign(rubric_id="no_such_rubric")
    assert not any(c.startswith("out.decision") for c in
                   outcome_frame(SimpleNamespace(judgments=unknown)).columns)


def _clustered_judgments(seed: int, prefix: str = "c"):
    """20 counterfactual groups x 30 judgments (race a/b alternating); quality and the
    favourable decision carry a per-(group, race) effect, so rows of a group are strongly
    correlated (see tests/stats/_clustered.py)."""
    from types import SimpleNamespace

    from tests.stats._clustered import clustered_frame

    f = clustered_frame(seed)
    j = pd.DataFrame({"rubric_id": "no_such_rubric", "generator": "g", "parse_status": "ok",
                      "probe": None, "repeat": 0, "judge_mode": "pointwise",
                      "cf_group": prefix + f["cf_group"], "row": f["row"].astype(str),
                      "attr.race": f["attr.race"], "score.no_such_rubric.quality": f["score"],
                      "score.no_such_rubric.decision": np.where(f["decision"] == 1, "favourable",
                                                 "unfavourable")})
    return SimpleNamespace(judgments=j)


@pytest.mark.parametrize("paired", [True, False], ids=["paired", "independent"])
def test_compare_judgments_resamples_clusters(paired):
    from types import SimpleNamespace

    from tests.stats._clustered import assert_wider

    a = _clustered_judgments(1)
    b = _clustered_judgments(2, prefix="c" if paired else "other")

    def by_row(fr, tag):  # every judgment its own cluster; row i of A and B stay paired
        return SimpleNamespace(judgments=fr.judgments.assign(
            cf_group=(tag if not paired else "") + fr.judgments["row"]))
    res = compare_judgments(a, b, B=200, seed=0, min_cell=1)
    rows = compare_judgments(by_row(a, "a"), by_row(b, "b"), B=200, seed=0, min_cell=1)
    method = "paired" if paired else "independent"
    assert res["method"].str.startswith(method).all() and \
        rows["method"].str.startswith(method).all()
    assert assert_wider(res, rows) == 4  # quality and decision: mean and race gap


def test_config_differences_lists_every_setting_that_differs():
    from judge.report.compare_html import config_differences

    a = {"config": {"name": "a", "seed": 1, "probes": ["verbosity"],
                    "report": {"alpha": 0.05, "bootstrap": 1000}},
         "rubrics": {"answer_quality@1.1.0": "abc"}}
    b = {"config": {"name": "b", "seed": 1, "probes": ["verbosity", "attribute_swap"],
                    "report": {"alpha": 0.05, "bootstrap": 200}},
         "rubrics": {"answer_quality@1.1.0": "def"}}
    got = config_differences(a, b)
    assert got == ["probes: ['verbosity'] -> ['verbosity', 'attribute_swap']",
                   "report.bootstrap: 1000 -> 200",
                   "rubric answer_quality@1.1.0: abc -> def"]
    assert config_differences(a, a) == []
