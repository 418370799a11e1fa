"""Judge invariance probes, summarised: effects that need no human labels.

Input is a run's joined judgments frame (``judge.load(run_dir).judgments``). Each probe
judgment is paired with the plain judgment of the same target, judge and rubric:

- ``attribute_swap``: the same response judged while the query shows another group
  member's attributes. Effect = probe score - original score (``mean_score_change``), per
  swapped attribute and (shown level, original level); for categorical and binary criteria
  (yes/no verdicts), the share of verdicts that change (``verdict_change_rate``). Any
  systematic change is the judge's attribute sensitivity.
- ``verbosity``: the response padded with neutral filler. Effect = padded - original (or
  the verdict change rate).
- ``position_swap`` (pairwise): share of pairs whose verdict survives swapping the order.
- ``test_retest``: repeats of the same judgment; exact agreement, and mean |difference| for
  numeric criteria.

Every row has one fixed schema (:data:`PROBE_COLUMNS`) with a cluster-bootstrap CI over
counterfactual groups.
"""

from __future__ import annotations

import pandas as pd

from judge.stats.bootstrap import DEFAULT_B, mean_ci

PROBE_COLUMNS = ["probe", "judge", "rubric_id", "criterion", "attribute", "level", "reference",
                 "metric", "value", "ci_low", "ci_high", "n", "n_clusters", "warning"]
KEY = ["target", "judge", "rubric_id"]


def _criterion(col: str) -> str:
    """The criterion of a ``score.<rubric>.<criterion>`` column (as in ``judge.load``).

    >>> _criterion("score.answer_quality.helpfulness")
    'helpfulness'
    """
    return col.removeprefix("score.").partition(".")[2]


def _numeric_scores(j: pd.DataFrame) -> list[str]:
    cols = []
    for c in j.columns:
        if c.startswith("score.") and pd.to_numeric(j[c], errors="coerce").notna().any() and \
                j[c].map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)).any():
            cols.append(c)
    return cols


def _categorical_scores(j: pd.DataFrame, numeric: list[str]) -> list[str]:
    """Score columns with verdicts that are not numbers (labels, yes/no, booleans)."""
    return [c for c in j.columns if c.startswith("score.") and c not in numeric
            and j[c].notna().any()]


def _change(p: pd.DataFrame, col: str, numeric: bool) -> pd.Series:
    """Per pair: probe minus original score (numeric), or 1.0 if the verdict changed."""
    if numeric:
        return pd.to_numeric(p[col], errors="coerce") - pd.to_numeric(p[f"{col}_orig"],
                                                                       errors="coerce")
    both = p[col].notna() & p[f"{col}_orig"].notna()
    changed = (p[col].astype(str) != p[f"{col}_orig"].astype(str)).astype(float)
    return changed.where(both)


def _row(probe, judge, rubric, crit, attr, level, ref, metric, est) -> dict:
    return {"probe": probe, "judge": judge, "rubric_id": rubric, "criterion": crit,
            "attribute": attr, "level": level, "reference": ref, "metric": metric,
            **{k: est.as_dict()[k] for k in ("value", "ci_low", "ci_high", "n", "n_clusters",
                                             "warning")}}


def _paired(j: pd.DataFrame, probe: str) -> pd.DataFrame:
    ok = j[j["parse_status"] == "ok"].copy()
    ok["target"] = ok["target_ids"].map(lambda t: "|".join(t))
    base = ok[ok["probe"].isna() & (ok["repeat"] == 0)]
    pr = ok[ok["probe"] == probe]
    return pr.merge(base, on=KEY, suffixes=("", "_orig"))


def probe_effects(j: pd.DataFrame, B: int = DEFAULT_B, seed: int = 0) -> pd.DataFrame:
    """All probe summaries of a run as one fixed-schema table."""
    rows: list[dict] = []
    if j.empty or "probe" not in j:
        return pd.DataFrame(columns=PROBE_COLUMNS)
    scores = _numeric_scores(j)
    kinds = [(c, True) for c in scores] + [(c, False) for c in _categorical_scores(j, scores)]
    for probe in ("attribute_swap", "verbosity"):
        p = _paired(j, probe)
        if p.empty:
            continue
        for col, numeric in kinds:
            if col not in p or f"{col}_orig" not in p:
                continue
            metric = "mean_score_change" if numeric else "verdict_change_rate"
            p["delta"] = _change(p, col, numeric)
            for (judge, rubric), g in p.dropna(subset=["delta"]).groupby(["judge", "rubric_id"]):
                crit = _criterion(col)
                est = mean_ci(g["delta"].to_numpy(), g["cf_group"].to_numpy(), B=B, seed=seed)
                rows.append(_row(probe, judge, rubric, crit, "(all)", "(all)", None,
                                 metric, est))
                if probe == "attribute_swap":
                    rows += _swap_rows(g, judge, rubric, crit, B, seed, metric)
    rows += _position_rows(j, B, seed)
    rows += _retest_rows(j, kinds, B, seed)
    return pd.DataFrame(rows, columns=PROBE_COLUMNS)


def _swap_rows(g: pd.DataFrame, judge, rubric, crit, B, seed,
               metric: str = "mean_score_change") -> list[dict]:
    """Score change (or verdict change rate) by (attribute, level shown, original level)."""
    rows = []
    shown = g["probe_meta"].map(lambda m: (m or {}).get("shown_attributes") or {})
    attrs = sorted({a for s in shown for a in s})
    for a in attrs:
        orig = g.get(f"attr.{a}")
        if orig is None:
            continue
        to = shown.map(lambda s, a=a: s.get(a))
        d = g.assign(_to=to, _from=orig)
        d = d[d["_to"].notna() & (d["_to"] != d["_from"])]
        for (lvl, ref), gg in d.groupby(["_to", "_from"]):
            est = mean_ci(gg["delta"].to_numpy(), gg["cf_group"].to_numpy(), B=B, seed=seed)
            rows.append(_row("attribute_swap", judge, rubric, crit, a, lvl, ref, metric, est))
    return rows


def _position_rows(j: pd.DataFrame, B, seed) -> list[dict]:
    p = _paired(j, "position_swap")
    rows = []
    for col in [c for c in j.columns if c.startswith("score.")]:
        if col not in p or p[col].isna().all():
            continue
        same = (p[col].astype(str) == p[f"{col}_orig"].astype(str)).astype(float)
        for (judge, rubric), idx in p.groupby(["judge", "rubric_id"]).groups.items():
            if p.loc[idx, col].isna().all():  # another rubric's criterion
                continue
            est = mean_ci(same.loc[idx].to_numpy(), p.loc[idx, "cf_group"].to_numpy(), B=B,
                          seed=seed)
            rows.append(_row("position_swap", judge, rubric, _criterion(col),
                             "(all)", "(all)", None, "consistency_rate", est))
    return rows


def _retest_rows(j: pd.DataFrame, kinds: list[tuple[str, bool]], B, seed) -> list[dict]:
    ok = j[(j["parse_status"] == "ok") & j["probe"].isna()].copy()
    if ok.empty or ok["repeat"].max() < 1:
        return []
    ok["target"] = ok["target_ids"].map(lambda t: "|".join(t))
    a = ok[ok["repeat"] == 0].merge(ok[ok["repeat"] == 1], on=KEY, suffixes=("", "_r1"))
    rows = []
    for col, numeric in kinds:
        diff = _change(a.rename(columns={f"{col}_r1": f"{col}_orig"}), col, numeric)
        for (judge, rubric), idx in a.groupby(["judge", "rubric_id"]).groups.items():
            d = diff.loc[idx]
            keep = d.notna()
            if not keep.any():  # another rubric's criterion
                continue
            cl = a.loc[idx, "cf_group"][keep].to_numpy()
            metrics = [("exact_agreement", (d[keep] == 0).astype(float))]
            if numeric:
                metrics.append(("mean_abs_difference", d[keep].abs()))
            for metric, vals in metrics:
                est = mean_ci(vals.to_numpy(), cl, B=B, seed=seed)
                rows.append(_row("test_retest", judge, rubric, _criterion(col),
                                 "(all)", "(all)", None, metric, est))
    return rows


def model_family(model: str) -> str:
    """``openai/gpt-4o-mini`` -> ``gpt``; ``anthropic/claude-3-5-haiku`` -> ``claude``."""
    name = model.split("/", 1)[-1].lower()
    return name.split("-", 1)[0].split(":", 1)[0]


def self_preference_flags(generators: list[str], judges: list[str]) -> list[dict]:
    """Judge/generator pairs from the same model family (self-preference risk)."""
    return [{"judge": j, "generator": g, "family": model_family(j)}
            for j in judges for g in generators if model_family(j) == model_family(g)]
