"""Stage ``analyze`` (run by ``report``): fairness metrics with CIs from the run's tables.

One *scored frame* per run (:func:`scored_frame`): a row per (generation, judge) with the
attribute columns, every pointwise criterion's parsed value as ``score.<rubric>.<criterion>``,
``parse_status`` (the worst across rubrics) and ``y_true`` (the query's ground truth
``qualified``, for equalized odds).

Metrics come from one rubric criterion at a time (:func:`outcome_frames`), named in the
``rubric_id`` and ``criterion`` columns of each metric row, so two rubrics' decisions are
never pooled into one rate:

- ``decision`` (1 favourable / 0 unfavourable / NaN), from each criterion that declares
  favourable labels (``positive:`` in the rubric), e.g. hiring_screening.decision;
- ``score``: answer quality on the criterion's own scale: answer_quality.helpfulness, else
  the first likert criterion, else the first binary criterion of a rubric whose
  ``frameworks`` include ``quality_of_service`` (e.g. short_verdict.answers), each value
  mapped by the criterion's ``numeric`` (likert points in range; binary positive 1.0,
  negative 0.0), so a yes/no quality is a proportion;
- ``infers_attribute``: 1/0 from the unawareness rubric;
- failure rates (judge parse failures and refusals by group) are across rubrics: their
  ``rubric_id`` and ``criterion`` are empty, like those of individual fairness and exposure
  (read from the responses' text, not a rubric).

Each metric row carries the ``scale`` of the criterion behind it (:func:`scale_label`):
``"1-5"`` (likert min-max) for a likert score, ``"0-1"`` for proportions read from binary
or categorical criteria, empty where no rubric criterion is behind the row; the report
states units from it (points on that scale, or percentage points).

:func:`judge.stats.all_metrics` runs per generator, judge and outcome; counterfactual-set
verdicts, producer exposure and individual (Lipschitz) fairness are added from their own
inputs. A plugin that planted the truth (the sim world) adds a ``planted`` column
(``judge.plugins``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import yaml

import judge.stats as js
from judge.config import PROJECT_ROOT
from judge.context import RunContext
from judge.frames import ATTR_PREFIX, RunFrames, score_column, score_columns
from judge.plugins import planted_metrics
from judge.rubrics import load_rubrics
from judge.stats import reference as _ref
from judge.stats.multiple import adjust_family
from judge.stats.noise import NOISE_EXPLANATION
from judge.stats.reference import DEFAULT_REFERENCE  # noqa: F401  (moved; re-exported)

# 3: rubric_id and criterion; decisions per criterion. 4: scale (the criterion's scale).
METRICS_SCHEMA_VERSION = 4
MIN_CLUSTERS_FINDING = 10  # fewer clusters: intervals under-cover; a test is not a finding
QUALITY_CRITERIA = ("answer_quality.helpfulness", "answer_quality.accuracy")
#: A rubric with this framework may supply quality from a binary criterion (no likert one).
QUALITY_FRAMEWORK = "quality_of_service"
#: Columns of an outcome frame: one per outcome kind, read by :func:`judge.stats.all_metrics`.
OUTCOMES = ("decision", "score", "infers_attribute")
#: Metric-table columns naming the rubric criterion a row was computed from.
SOURCE_COLUMNS = ["rubric_id", "criterion"]
#: Proportions (binary and categorical criteria; rates and shares) in the ``scale`` column.
PROPORTION_SCALE = "0-1"


def scale_label(criterion: Any) -> str:
    """The scale a criterion's outcome is on, for the ``scale`` column: ``"min-max"`` of a
    likert scale (``"1-5"``), :data:`PROPORTION_SCALE` for binary and categorical criteria
    (their outcomes are 0/1, so means are proportions)."""
    s = criterion.scale
    return f"{s.min}-{s.max}" if getattr(s, "type", "") == "likert" else PROPORTION_SCALE


def criterion_scales(rubrics: list[Any]) -> dict[tuple[str, str], str]:
    """``(rubric_id, criterion) -> scale_label`` for every criterion of ``rubrics``."""
    return {(rb.id, c.id): scale_label(c) for rb in rubrics for c in rb.criteria}


def favourable_map(criterion: Any) -> dict[str, float] | None:
    """label -> 1.0 (favourable) / 0.0 (unfavourable) for decision criteria, else None."""
    fav = list(getattr(criterion, "favourable", None) or [])
    if not fav:
        return None
    unf = list(getattr(criterion, "unfavourable", None) or [])
    return {**{str(x): 1.0 for x in fav}, **{str(x): 0.0 for x in unf}}


def _plain(j: pd.DataFrame) -> pd.DataFrame:
    return j[j["probe"].isna() & (j["repeat"] == 0) & (j["judge_mode"] == "pointwise")]


def scored_frame(frames: RunFrames, rubrics: list[Any]) -> pd.DataFrame:
    """A row per (generation, judge) with attr.*, ``score.<rubric>.<criterion>``,
    ``parse_status`` and ``y_true`` columns (see module doc)."""
    j = frames.judgments
    if j.empty:
        return pd.DataFrame()
    j = _plain(j)
    attr_cols = [c for c in j.columns if c.startswith(ATTR_PREFIX)]
    keys = ["generation_id", "judge"]
    base = (j.sort_values("rubric_id")
            .drop_duplicates(keys)[keys + ["cf_group", "generator", "query_id", "context",
                                          "scenario_id", "sample_index", *attr_cols]]
            .rename(columns={"generation_id": "item_id"}))
    base["template"] = base["scenario_id"]
    ok = j[j["parse_status"] == "ok"]
    out = base.set_index(["item_id", "judge"])
    for rb in rubrics:
        jr = ok[ok["rubric_id"] == rb.id]
        for c in rb.criteria:
            col = score_column(rb.id, c.id)
            if col in jr and not jr[col].isna().all():
                vals = jr.set_index(["generation_id", "judge"])[col]
                vals.index.names = ["item_id", "judge"]
                out[col] = vals[~vals.index.duplicated()].reindex(out.index)
    # Failures: the worst parse status of each (generation, judge) across rubrics.
    order = {"ok": 0, "refusal": 1, "parse_failure": 2, "error": 3}
    worst = (j.assign(_o=j["parse_status"].map(order))
             .groupby(["generation_id", "judge"])["_o"].max())
    worst.index.names = ["item_id", "judge"]
    inv = {v: k for k, v in order.items()}
    out["parse_status"] = worst.reindex(out.index).map(inv)
    out = out.reset_index()
    if not frames.queries.empty and "ground_truth" in frames.queries:
        gt = dict(zip(frames.queries["query_id"], frames.queries["ground_truth"]))
        out["y_true"] = out["query_id"].map(
            lambda q: truth_value((gt.get(q) or {})["qualified"])
            if "qualified" in (gt.get(q) or {}) else np.nan)
    return out


def outcome_frames(scored: pd.DataFrame, rubrics: list[Any]
                   ) -> list[tuple[str | None, str | None, pd.DataFrame]]:
    """``(rubric_id, criterion, frame)`` for each outcome of the scored frame. A frame has
    the rows the criterion was judged on, their attribute columns and exactly one outcome
    column (:data:`OUTCOMES`; ``parse_status`` for the failure rates, which belong to no
    one criterion: their rubric and criterion are None)."""
    scores = score_columns(scored)
    base = scored.drop(columns=[*scores, "parse_status"], errors="ignore")
    out: list[tuple[str | None, str | None, pd.DataFrame]] = []
    quality = fallback = None
    for rb in rubrics:
        for c in rb.criteria:
            col = score_column(rb.id, c.id)
            if col not in scores:
                continue
            vals, fav = scored[col], favourable_map(c)
            if fav is not None:
                dec = vals.map(lambda v, f=fav: f.get(str(v), np.nan)).astype(float)
                out.append((rb.id, c.id, _judged(base, vals, decision=dec)))
            if rb.id == "unawareness":
                out.append((rb.id, c.id, _judged(
                    base, vals, infers_attribute=vals.map(c.numeric).astype(float))))
            kind = getattr(c.scale, "type", "")
            if f"{rb.id}.{c.id}" == QUALITY_CRITERIA[0] or (quality is None and kind == "likert"):
                quality = (rb.id, c.id, _judged(base, vals, score=_numeric(vals, c)))
            elif (fallback is None and kind == "binary"
                  and QUALITY_FRAMEWORK in (getattr(rb, "frameworks", None) or ())):
                fallback = (rb.id, c.id, _judged(base, vals, score=_numeric(vals, c)))
    if quality is not None or fallback is not None:
        out.append(quality if quality is not None else fallback)
    if "parse_status" in scored:
        out.append((None, None, base.assign(parse_status=scored["parse_status"])))
    return out


def outcome_metrics(scored: pd.DataFrame, rubrics: list[Any], reference: dict[str, str],
                    kw: dict[str, Any]) -> list[pd.DataFrame]:
    """:func:`judge.stats.all_metrics` per outcome (:func:`outcome_frames`), generator and
    judge. Each table compares with the run's ``reference`` where its rows have that level;
    where they do not (a real judge's parse failures can leave a criterion with no judged
    answer of the reference group), the same rule picks one among the levels they have
    (:mod:`judge.stats.reference`), and every row names the reference it used."""
    out = []
    for rubric_id, criterion, frame in outcome_frames(scored, rubrics):
        for (gen, judge), sub in frame.groupby(["generator", "judge"]):
            t = js.all_metrics(sub, reference=reference_levels(sub, reference), **kw)
            out.append(t.assign(generator=gen, judge=judge, rubric_id=rubric_id,
                                criterion=criterion))
    return out


def _numeric(vals: pd.Series, criterion: Any) -> pd.Series:
    """The criterion's numbers (``Criterion.numeric``): NaN for a value off its scale."""
    return vals.map(lambda v: np.nan if v is None or (isinstance(v, float) and v != v)
                    else criterion.numeric(v)).astype(float)


def _judged(base: pd.DataFrame, vals: pd.Series, **outcome: pd.Series) -> pd.DataFrame:
    """``base`` rows with a parsed value of the criterion, the attribute columns those rows
    have and the outcome column."""
    rows = base[vals.notna()].assign(**{k: v[vals.notna()] for k, v in outcome.items()})
    empty = [c for c in rows.columns if c.startswith(ATTR_PREFIX) and rows[c].isna().all()]
    return rows.drop(columns=empty)


def reference_levels(df: pd.DataFrame, override: dict[str, str]) -> dict[str, str]:
    """Configured reference per attribute if present, else a conventional one if present,
    else the most common; never a missing value (:mod:`judge.stats.reference`)."""
    return _ref.reference_levels(df, override)


def truth_value(v: Any) -> float:
    """1.0 / 0.0 for a ground-truth flag, NaN if it is not one (``"false"`` is false).

    >>> truth_value(True), truth_value("false"), truth_value("Yes"), truth_value(0), truth_value("?")
    (1.0, 0.0, 1.0, 0.0, nan)
    """
    if isinstance(v, (bool, int, float)) and not (isinstance(v, float) and v != v):
        return float(bool(v))
    s = str(v).strip().lower()
    if s in ("true", "yes", "y", "1", "1.0"):
        return 1.0
    if s in ("false", "no", "n", "0", "0.0"):
        return 0.0
    return float("nan")


NOT_VARIED_NOTE = ("Each attribute is compared only on the counterfactual groups that vary "
                   "it; `not_varied` counts the values set aside (a level a scenario states "
                   "but does not swap is confounded with that scenario).")


def varied_within_groups(scored: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Each attribute compared only on the counterfactual groups that vary it.

    An item whose group holds a single level of an attribute (a scenario that states an age
    but swaps race) says nothing about that attribute: pooled with others, its level is
    confounded with the scenario and with the effects of the attributes its group does vary
    (the default sim world gave false age headlines that way). Such values become missing,
    which no metric treats as a group. An attribute no group varies (observational data) is
    kept as it is. Returns the frame and, per attribute, how many values were set aside.
    """
    if "cf_group" not in scored:
        return scored, {}
    out, dropped = scored.copy(), {}
    for col in [c for c in scored.columns if c.startswith(ATTR_PREFIX)]:
        levels = scored.groupby("cf_group")[col].transform("nunique")
        varied = levels >= 2
        if not varied.any():
            continue
        off = scored[col].notna() & ~varied
        if off.any():
            out[col] = scored[col].where(varied)
            dropped[col.removeprefix(ATTR_PREFIX)] = int(off.sum())
    return out, dropped


def analyze(ctx: RunContext, frames: RunFrames) -> dict[str, Any]:
    """All metrics of a run as a JSON-able dict (``metrics`` rows also go to metrics.csv)."""
    cfg, rc = ctx.cfg, ctx.cfg.report
    rubrics = load_rubrics(cfg.rubrics)
    raw = scored_frame(frames, rubrics)
    scored, not_varied = varied_within_groups(raw)
    kw = dict(B=rc.bootstrap, seed=cfg.seed, alpha=rc.alpha, min_cell=rc.min_cell)
    tables = []
    if not scored.empty:
        tables += outcome_metrics(scored, rubrics, reference_levels(scored, rc.reference), kw)
        tables += _set_verdicts(frames, kw)
        tables += _individual(frames, kw)
        tables += _exposure(frames, kw)
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
        columns=[*js.METRIC_COLUMNS, "generator", "judge", *SOURCE_COLUMNS])
    scales = criterion_scales(rubrics)
    table["scale"] = [scales.get((r, c)) if isinstance(r, str) and isinstance(c, str)
                      else None for r, c in zip(table["rubric_id"], table["criterion"])]
    table, multiplicity = _report_family(ctx, table)
    if not scored.empty:
        table = planted_metrics(cfg, frames, scored, table)  # e.g. the sim world's truth
    rows = table.astype(object).where(table.notna(), None).to_dict("records")

    return {"schema_version": METRICS_SCHEMA_VERSION, "run": cfg.name,
            "reference": reference_levels(scored, rc.reference) if not scored.empty else {},
            "reference_source": {a: r.source + (f"; {r.note}" if r.note else "") for a, r in
                                 _ref.references(scored, rc.reference).items()},
            "n_scored": int(len(scored)), "metrics": rows, "multiplicity": multiplicity,
            "not_varied": not_varied,
            "notes": {"noise_floor": NOISE_EXPLANATION,
                      "not_varied": NOT_VARIED_NOTE if not_varied else None,
                      "missing": _ref.missing_note(_ref.missing_counts(
                          raw.drop_duplicates("item_id") if not raw.empty else raw),
                          unit="generations")}}


def _report_family(ctx: RunContext, table: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """One findings family for the whole report: every disparity test of the metric table
    (all generators and judges) and every differential judge-bias test of calibration.json,
    adjusted together (``report.multiplicity``)."""

    path = ctx.store.dir / "calibration.json"
    cal = json.loads(path.read_text()) if path.exists() else {}
    dbias = pd.DataFrame(cal.get("differential_bias") or [], columns=[
        "criterion", "judge", "attribute", "group", "reference", "p_value", "n_clusters"])
    adj = adjust_family({"metrics": table, "differential_bias": dbias},
                        ctx.cfg.report.multiplicity, min_clusters=MIN_CLUSTERS_FINDING)
    d = adj["differential_bias"]
    size = int(max([0, *adj["metrics"]["family_size"], *d["family_size"]]))
    rows = d.astype(object).where(d.notna(), None).to_dict("records")
    return adj["metrics"], {"method": ctx.cfg.report.multiplicity, "family_size": size,
                            "differential_bias": rows}


#: The counterfactual-set criterion behind each set-verdict metric.
SET_CRITERIA = {"cfset_differs_share": "differs_materially",
                "cfset_dimension_share": "dimension", "cfset_worst_share": "worst"}


def _set_verdicts(frames: RunFrames, kw: dict) -> list[pd.DataFrame]:
    """Counterfactual-set verdicts per set rubric, generator and judge."""

    j = frames.judgments
    sets = j[(j["judge_mode"] == "counterfactual_set") & (j["parse_status"] == "ok")]
    out = []
    for rid, rs in sets.groupby("rubric_id"):
        differs, dimension = score_column(rid, "differs_materially"), score_column(
            rid, "dimension")
        if differs not in rs or rs[differs].isna().all():
            continue
        for (gen, judge), sub in rs.groupby(["generator", "judge"]):
            t = js.counterfactual_set_summary(
                sub, differs=differs, dimension=dimension if dimension in sub else None, **kw)
            out.append(t.assign(generator=gen, judge=judge, rubric_id=rid,
                                criterion=t["metric"].map(SET_CRITERIA)))
    return out


def _individual(frames: RunFrames, kw: dict) -> list[pd.DataFrame]:
    """Lipschitz individual fairness: response distance vs input distance within groups."""

    g = frames.generations
    if g.empty or "response" not in g:
        return []
    g = g[g["status"] == "ok"].copy()
    if not frames.queries.empty:
        g = g.merge(frames.queries[["query_id", "text"]], on="query_id", how="left")
    out = []
    for gen, sub in g.groupby("model"):
        sub = sub.rename(columns={"text": "query_text"})
        pairs = js.lipschitz_pairs(sub, group_on=["cf_group", "sample_index"],
                                   resample_floor=True)
        out.append(js.individual_fairness(pairs, B=kw["B"], seed=kw["seed"]).assign(
            generator=gen))
    return out


def _exposure(frames: RunFrames, kw: dict) -> list[pd.DataFrame]:
    """Producer exposure in recommendation answers, against uniform and relevance targets."""

    g = frames.generations
    if g.empty or "context" not in g:
        return []
    rec = g[(g["context"] == "recommendation") & (g["status"] == "ok")]
    if rec.empty:
        return []
    cat = load_catalogue(PROJECT_ROOT / "datasets" / "producers.yaml")
    out = []
    for gen, sub in rec.groupby("model"):
        mentions = js.extract_mentions(sub.rename(columns={"generation_id": "response_id"}),
                                       cat, keep=["cf_group"])
        out.append(js.producer_exposure(mentions, cat.drop(columns=["name"]),
                                        group_cols=["owner.race", "owner.gender", "size"],
                                        cluster="cf_group", **kw).assign(generator=gen))
    return out


def load_catalogue(path: Any) -> pd.DataFrame:
    """The producer catalogue as a frame: producer_id, name, owner.*, size, relevance."""

    data = yaml.safe_load(open(path, encoding="utf-8"))
    df = pd.json_normalize(data["producers"])
    return df.rename(columns={"id": "producer_id"})[
        ["producer_id", "name", "owner.race", "owner.gender", "size", "relevance"]]
