"""Findings first: the few disparities a researcher can quote, and what the run cannot say.

Pure functions over the metric rows (``metrics.json["metrics"]``) and ``calibration.json``;
no I/O. A row is a *finding* when all of these hold:

- it compares a level with a reference (not a summary row, a rule flag, a noise floor or an
  intersectional cell) and carries no warning (small cells, undefined estimates);
- it is significant after the report-wide multiplicity adjustment: ``p_adj < alpha``
  (rows outside the adjusted family, ``p_adj`` missing, are not findings; only when the
  whole table has no ``p_adj`` are the p-values adjusted here, Benjamini–Hochberg);
- its 95% interval excludes the null;
- where a noise-floor row exists (``<metric>_excess`` beside ``<metric>``), the excess over
  the same-query resampling floor is itself significant and its interval excludes 0.

Units come from the metric and the row's ``scale`` (the rubric criterion's scale, from the
analyze stage): rates and proportions (``scale`` ``0-1``) in percentage points, scores in
points on their own scale (``1-7``), whose span (max - min) bounds the gaps a power
statement can name. Findings are ranked by effect size in the metric's own units and capped
(:data:`MAX_FINDINGS`). Each gets one sentence (:func:`sentence`) that names the group and
reference, the generator (and judge, rubric criterion), the size in units, the CI, the
excess over noise, and how far the judge can be trusted for that comparison (kappa in each
group, differential bias, raw → corrected gap) where calibration has it.

:func:`cannot_say` lists comparisons that were tested but are not findings and whose
minimum detectable effect (80% power, two-sided 5%) is larger than a modest effect, so a
reader does not take "no finding" for "no gap".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_FINDINGS = 10
MAX_LIMITS = 10
ALPHA = 0.05
Z_ALPHA, Z_POWER = 1.959964, 0.841621  # two-sided 5%, 80% power

#: Plain-language titles of the disparity metrics (report headings and sentences).
TITLES = {
    "selection_rate_diff": "Difference in positive-decision rate",
    "selection_rate_ratio": "Ratio of positive-decision rates",
    "dp_ratio": "Ratio of positive-decision rates",
    "cf_flip_rate": "Share of decisions that flip when only the attribute changes",
    "cf_flip_rate_excess": "Decision flips beyond sampling noise",
    "cf_decision_diff": "Paired difference in decisions (same query, attribute changed)",
    "cf_score_diff": "Paired difference in judge scores (same query, attribute changed)",
    "cf_score_absdiff_excess": "Score changes beyond sampling noise",
    "quality_diff": "Difference in judged quality",
    "score_diff": "Difference in judge score",
    "tpr_gap": "Difference in true-positive rate (qualified people accepted)",
    "fpr_gap": "Difference in false-positive rate (unqualified people accepted)",
    "unawareness_rate_diff": "Difference in positive-decision rate when the attribute is implicit",
    "refusal_rate_diff": "Difference in refusal rate",
    "parse_failure_rate_diff": "Difference in judge parse-failure rate",
    "cfset_differs_share": "Share of counterfactual sets judged materially different",
    "lipschitz_violation_share": "Similar inputs treated dissimilarly, beyond sampling noise",
    "cf_score_absdiff": "Mean absolute change in judge score when only the attribute changes",
}

RATE_WORDS = ("rate", "share", "parity", "odds", "flip", "selection", "tpr", "fpr", "decision", "refusal",
              "parse_failure", "prob", "accept")
SCORE_WORDS = ("score", "quality", "likert", "rating")
SKIP_SUFFIXES = ("_flag", "_noise_floor", "_raw", "_n", "_count", "_mde")
SUMMARY_LEVELS = {"*", "(all)", "all", "", "rest"}
MISSING_LEVELS = {"(missing)", "missing"}
#: Effects below which a null result is informative: 5 percentage points, 0.25 points (on
#: a scale of unknown span; on a known one, :data:`MODEST_SHARE` of its span).
MODEST = {"pp": 0.05, "pct": 0.05, "points": 0.25, "ratio": 0.1, "units": 0.1}
#: A modest score gap as a share of the scale's span: 0.25 points on a 1-5 scale.
MODEST_SHARE = 0.25 / 4
#: The widest gap a proportion allows: 100 percentage points (a score's: its scale's span).
SPAN = {"pp": 1.0}
#: The ``scale`` of proportions (binary and categorical criteria).
PROPORTION = "0-1"
_SCALE_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)\s*$")


def missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def scale_of(r: Mapping[str, Any]) -> str | None:
    """A metric row's ``scale`` (``"1-5"``, ``"0-1"``), or None when it has none."""
    v = r.get("scale")
    return None if missing(v) or not str(v).strip() else str(v).strip()


def scale_bounds(scale: str | None) -> tuple[float, float] | None:
    """``(min, max)`` of a scale such as ``"1-7"``; None when absent or unreadable.

    >>> scale_bounds("1-7"), scale_bounds("-2-2"), scale_bounds(None), scale_bounds("x")
    ((1.0, 7.0), (-2.0, 2.0), None, None)
    """
    m = _SCALE_RE.match(str(scale)) if scale else None
    if not m:
        return None
    lo, hi = float(m.group(1)), float(m.group(2))
    return (lo, hi) if hi > lo else None


def units_of(metric: str, scale: str | None = None) -> str:
    """``"pp"`` (rate differences, in percentage points), ``"pct"`` (shares of pairs, in
    percent), ``"points"`` (scores, on ``scale``), ``"ratio"``. A score metric whose
    ``scale`` is ``0-1`` (quality from a binary criterion) is a proportion: ``"pp"``.

    >>> units_of("selection_rate_diff"), units_of("quality_diff"), units_of("dp_ratio")
    ('pp', 'points', 'ratio')
    >>> units_of("quality_diff", "1-7"), units_of("quality_diff", "0-1")
    ('points', 'pp')
    >>> units_of("cf_flip_rate"), units_of("cf_flip_rate_excess")
    ('pct', 'pp')
    """
    u = _units_by_name(metric)
    return "pp" if u == "points" and is_proportion(scale) else u


def is_proportion(scale: str | None) -> bool:
    """Whether values on ``scale`` are proportions (0-1: binary and categorical criteria)."""
    return scale_bounds(scale) == (0.0, 1.0)


def _units_by_name(metric: str) -> str:
    m = metric.lower()
    if "ratio" in m:
        return "ratio"
    if ("flip_rate" in m or m.endswith("_share")) and not m.endswith("_excess"):
        return "pct"  # a share of pairs, not a difference between groups
    if any(w in m for w in SCORE_WORDS) and "flip" not in m:
        return "points"
    if any(w in m for w in RATE_WORDS):
        return "pp"
    return "units"


def null_of(metric: str) -> float:
    return 1.0 if units_of(metric) == "ratio" else 0.0


def span_of(units: str, scale: str | None = None) -> float | None:
    """The widest gap the units allow: 1.0 (100 percentage points) for proportions,
    max - min of ``scale`` for points, None when unknown.

    >>> span_of("pp"), span_of("points", "1-7"), span_of("points")
    (1.0, 6.0, None)
    """
    if units == "points":
        b = scale_bounds(scale)
        return b[1] - b[0] if b else None
    return SPAN.get("pp" if units == "pct" else units)


def modest(units: str, scale: str | None = None) -> float:
    """The effect below which a null result is informative (:data:`MODEST`); for points on
    a known scale, :data:`MODEST_SHARE` of its span.

    >>> modest("pp"), modest("points", "1-5"), modest("points", "1-7"), modest("points")
    (0.05, 0.25, 0.375, 0.25)
    """
    span = span_of(units, scale) if units == "points" else None
    return MODEST_SHARE * span if span else MODEST.get(units, 0.1)


def amount(x: float, units: str, signed: bool = True, *, scale: str | None = None) -> str:
    """A value in its units: ``+12.3 percentage points``, ``-0.42 points on the 1-5 scale``
    (``scale``: the row's; without one, points are on "the rubric's scale").

    >>> amount(0.1234, "pp"), amount(-0.4161, "points", scale="1-5")
    ('+12.3 percentage points', '-0.42 points on the 1-5 scale')
    >>> amount(1.5, "points", scale="1-7"), amount(0.3, "points")
    ('+1.50 points on the 1-7 scale', "+0.30 points on the rubric's scale")
    """
    if missing(x):
        return "n/a"
    sign = "+" if signed else ""
    if units == "pct":
        return f"{100 * x:.1f}% of pairs"
    if units == "pp":
        return f"{100 * x:{sign}.1f} percentage points"
    if units == "points":
        on = f"the {scale} scale" if scale else "the rubric's scale"
        return f"{x:{sign}.2f} points on {on}"
    if units == "ratio":
        return f"a ratio of {x:.2f}"
    return f"{x:{sign}.3f}"


def display_factor(units: str) -> float:
    """What a stored value is multiplied by to be shown in ``units``: 100 for percentage
    points and percent (stored as proportions), else 1."""
    return 100.0 if units in ("pp", "pct") else 1.0


def bare(x: Any, units: str, digits: int = 2) -> str:
    """``x`` in ``units`` without the unit's name: ``-12.5`` for -0.125 in percentage
    points, scores and ratios with ``digits`` decimals; ``n/a`` when missing.

    >>> bare(-0.125, "pp"), bare(-0.9, "points", digits=3), bare(None, "pp")
    ('-12.5', '-0.900', 'n/a')
    """
    v = num(x)
    if missing(v):
        return "n/a"
    return f"{100 * v:.1f}" if display_factor(units) == 100 else f"{v:.{digits}f}"


def ci_text(lo: float, hi: float, units: str) -> str:
    """``95% CI 4.1 to 20.5 pp``."""
    if missing(lo) or missing(hi):
        return "no CI"
    u = {"pp": " pp", "pct": "%", "points": " points"}.get(units, "")
    return f"95% CI {bare(lo, units)} to {bare(hi, units)}{u}"


@dataclass
class Trust:
    """How far the judge can be trusted for one comparison (from calibration.json)."""

    kappa_level: float = math.nan
    kappa_reference: float = math.nan
    dbias: float = math.nan
    dbias_lo: float = math.nan
    dbias_hi: float = math.nan
    raw: float = math.nan
    corrected: float = math.nan
    corrected_lo: float = math.nan
    corrected_hi: float = math.nan

    @property
    def known(self) -> bool:
        return not all(missing(v) for v in vars(self).values())


@dataclass
class Finding:
    """One quotable finding: a metric row, its noise excess and the judge's trust."""

    row: dict[str, Any]
    units: str
    excess: dict[str, Any] | None = None
    trust: Trust = field(default_factory=Trust)
    key: str = ""

    @property
    def scale(self) -> str | None:
        return scale_of(self.row)

    @property
    def effect(self) -> float:
        return abs(num(self.row.get("value")) - null_of(str(self.row.get("metric"))))

    @property
    def sentence(self) -> str:
        return sentence(self)


@dataclass
class Limit:
    """Comparisons this run cannot settle: for one metric and attribute (and generator,
    judge), the best-powered level that is not a finding, and its MDE."""

    row: dict[str, Any]
    units: str
    mde: float
    n_levels: int = 1

    @property
    def span(self) -> float | None:
        """The widest gap the row's scale allows (None when unknown)."""
        return span_of(self.units, scale_of(self.row))

    @property
    def sentence(self) -> str:
        r, mu, sc = self.row, "pp" if self.units == "pct" else self.units, scale_of(self.row)
        span = self.span
        if span is not None and self.mde >= span:
            power = (f"no gap the scale allows (at most {amount(span, mu, False, scale=sc)}) "
                     f"would be detected with 80% power (n = {_int(r.get('n'))})")
        else:
            power = (f"only a gap of at least {amount(self.mde, mu, False, scale=sc)} would "
                     f"be detected with 80% power (n = {_int(r.get('n'))})")
        more = (f"; this is the best-powered of {self.n_levels} levels, the others are "
                "less precise" if self.n_levels > 1 else "")
        why = (f"; not a finding: {r['warning']}" if not missing(r.get("warning")) and
               str(r.get("warning")).strip() else
               f"; not a finding: adjusted p {_p(r.get('p_adj'))}"
               if not missing(num(r.get("p_adj"))) else "")
        return (f"{_title(r)} for {r.get('attribute')} = {r.get('level')} vs "
                f"{r.get('reference')}{_where(r)}: "
                f"{amount(num(r.get('value')), self.units, scale=sc)} "
                f"({ci_text(num(r.get('ci_low')), num(r.get('ci_high')), self.units)}); "
                f"{power}{more}{why}.")


def _int(x: Any) -> str:
    v = num(x)
    return "n/a" if missing(v) else f"{int(v):,}"


def _title(r: Mapping[str, Any]) -> str:
    m = str(r.get("metric"))
    return TITLES.get(m, m.replace("_", " ").capitalize())


def _where(r: Mapping[str, Any]) -> str:
    bits = []
    if not missing(r.get("generator")):
        bits.append(f"generator {r['generator']}")
    if not missing(r.get("judge")):
        bits.append(f"judge {r['judge']}")
    crit = ".".join(str(r[k]) for k in ("rubric_id", "criterion") if not missing(r.get(k)))
    if crit:
        bits.append(f"criterion {crit}")
    if not missing(r.get("context")):
        bits.append(f"context {r['context']}")
    return f" ({', '.join(bits)})" if bits else ""


def sentence(f: Finding) -> str:
    """The finding as one sentence a researcher can quote."""
    r, u, sc = f.row, f.units, f.scale
    s = (f"{_title(r)}: {r.get('attribute')} = {r.get('level')} vs {r.get('reference')}"
         f"{_where(r)}: {amount(num(r.get('value')), u, scale=sc)} "
         f"({ci_text(num(r.get('ci_low')), num(r.get('ci_high')), u)}; "
         f"adjusted p {_p(r.get('p_adj'))}; n = {_int(r.get('n'))})")
    if f.excess is not None:
        e = f.excess
        eu = "pp" if u == "pct" else u
        s += (f", {amount(num(e.get('value')), eu, scale=sc)} beyond the same-query noise floor "
              f"({ci_text(num(e.get('ci_low')), num(e.get('ci_high')), eu)})")
    elif r.get("_floor_unmeasured"):
        s += (", the same-query noise floor is not measured (one sample per query), so part "
              "of this may be sampling noise")
    t = f.trust
    trust = []
    if not (missing(t.kappa_level) and missing(t.kappa_reference)):
        trust.append(f"judge-human kappa {_k(t.kappa_level)} for {r.get('level')} and "
                     f"{_k(t.kappa_reference)} for {r.get('reference')}")
    if not missing(t.dbias):  # judge - human on the criterion of the row: the row's scale
        bu = "pp" if is_proportion(sc) else "points"
        trust.append(f"differential judge bias {amount(t.dbias, bu, scale=sc)} "
                     f"({ci_text(t.dbias_lo, t.dbias_hi, bu)})")
    if not (missing(t.raw) or missing(t.corrected)):
        trust.append(f"human-corrected gap {t.raw:+.2f} → {t.corrected:+.2f} "
                     f"({ci_text(t.corrected_lo, t.corrected_hi, 'units')})")
    if trust:
        s += "; " + "; ".join(trust)
    elif not missing(r.get("judge")) or _units_by_name(str(r.get("metric"))) == "points":
        s += "; the judge is not calibrated against human labels for this comparison"
    return s + "."


def _p(x: Any) -> str:
    v = num(x)
    return "n/a" if missing(v) else ("< 0.001" if v < 0.001 else f"{v:.3f}")


def _k(x: float) -> str:
    return "n/a" if missing(x) else f"{x:.2f}"


# ---------------------------------------------------------------- selection

def candidate(r: Mapping[str, Any]) -> bool:
    """A level-vs-reference comparison on one attribute, not a summary, flag or floor."""
    m, a = str(r.get("metric") or ""), str(r.get("attribute") or "")
    lv, ref = r.get("level"), r.get("reference")
    if not m or m.endswith(SKIP_SUFFIXES) or m.endswith("_excess") or missing(ref):
        return False
    if "absdiff" in m:  # an absolute difference is > 0 by construction: only its excess
        return False    # over the noise floor is evidence, and that is not a group gap
    if "×" in a or "|" in a or missing(lv) or str(lv) in SUMMARY_LEVELS:
        return False
    if str(ref) in SUMMARY_LEVELS:  # cell-vs-rest rows repeat the level-vs-reference ones
        return False
    if str(lv) in MISSING_LEVELS or str(ref) in MISSING_LEVELS:
        return False
    return not missing(num(r.get("value")))


def _adjusted(rows: list[dict[str, Any]]) -> list[float]:
    """``p_adj`` per row; BH over the candidates' p-values when no row has ``p_adj``."""
    if any(not missing(num(r.get("p_adj"))) for r in rows):
        return [num(r.get("p_adj")) for r in rows]
    p = [num(r.get("p_value")) for r in rows]
    idx = sorted((i for i, v in enumerate(p) if not missing(v)), key=lambda i: p[i])
    m, out, run = len(idx), [math.nan] * len(rows), 1.0
    for rank in range(m, 0, -1):
        i = idx[rank - 1]
        run = min(run, p[i] * m / rank)
        out[i] = run
    return out


def _key(r: Mapping[str, Any], *cols: str) -> tuple:
    return tuple(str(r.get(c)) if not missing(r.get(c)) else "" for c in cols)


KEY_COLS = ("generator", "judge", "rubric_id", "criterion", "attribute", "level", "reference")


OPTIONAL_KEYS = ("generator", "judge", "rubric_id", "criterion")


def _excess_index(rows: Iterable[Mapping[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    out: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        m = str(r.get("metric") or "")
        if m.endswith("_excess"):
            key = (m[: -len("_excess")], *_key(r, "attribute", "level", "reference"))
            out.setdefault(key, []).append(dict(r))
    return out


def _excess_for(r: Mapping[str, Any], index: Mapping[tuple, list[dict[str, Any]]]
                ) -> dict[str, Any] | None:
    """The noise-floor excess row of ``r``: same base metric, attribute, level and
    reference, and no conflicting generator/judge/rubric/criterion."""
    for base in _base_of(str(r.get("metric"))):
        for e in index.get((base, *_key(r, "attribute", "level", "reference")), []):
            if all(missing(e.get(k)) or missing(r.get(k)) or str(e[k]) == str(r[k])
                   for k in OPTIONAL_KEYS):
                return e
    return None


def _base_of(metric: str) -> tuple[str, ...]:
    """Base metrics whose noise floor is reported under another name."""
    return (metric, "cf_score_absdiff") if metric.startswith("cf_score") else (metric,)


def _significant(r: Mapping[str, Any], p_adj: float, alpha: float) -> bool:
    lo, hi = num(r.get("ci_low")), num(r.get("ci_high"))
    null = null_of(str(r.get("metric")))
    if missing(p_adj) or p_adj >= alpha or missing(lo) or missing(hi):
        return False
    return (lo > null or hi < null) and hi - lo > 1e-9


def select_findings(rows: Sequence[Mapping[str, Any]], calibration: Mapping[str, Any] | None
                    = None, *, alpha: float = ALPHA, limit: int = MAX_FINDINGS
                    ) -> list[Finding]:
    """The findings of a run, largest effect first (see the module docstring)."""
    rows = [dict(r) for r in rows]
    excess = _excess_index(rows)
    cands = [r for r in rows if candidate(r)]
    padj = _adjusted(cands)
    out = []
    for r, p in zip(cands, padj):
        if not missing(r.get("warning")) and str(r.get("warning")).strip():
            continue
        if not _significant(r, p, alpha):
            continue
        ex = _excess_for(r, excess)
        if ex is not None and missing(num(ex.get("value"))):
            ex = None  # the floor is not measured (one sample per query): said in the sentence
            r = {**r, "_floor_unmeasured": True}
        if ex is not None and not _significant(ex, num(ex.get("p_adj")) if not missing(
                num(ex.get("p_adj"))) else num(ex.get("p_value")), alpha):
            continue
        out.append(Finding(row={**r, "p_adj": p}, units=units_of(str(r["metric"]), scale_of(r)),
                           excess=ex, trust=trust_for(r, calibration)))
    out.sort(key=lambda f: (-f.effect, str(f.row.get("metric"))))
    for i, f in enumerate(out[:limit]):
        f.key = f"f{i + 1}"
    return out[:limit]


# ---------------------------------------------------------------- calibration

def _match(c: Mapping[str, Any], r: Mapping[str, Any], group: Any) -> bool:
    if str(c.get("attribute")) != str(r.get("attribute")):
        return False
    if str(c.get("group", c.get("level"))) != str(group):
        return False
    if not missing(c.get("judge")) and not missing(r.get("judge")) \
            and str(c["judge"]) != str(r["judge"]):
        return False
    if not missing(c.get("criterion")) and not missing(r.get("criterion")):
        # calibration names a run's criteria "<rubric>.<criterion>"; a metric row has
        # rubric_id and criterion apart (a standalone calibration may name it bare)
        qualified = (f"{r['rubric_id']}.{r['criterion']}" if not missing(r.get("rubric_id"))
                     else str(r["criterion"]))
        if str(c["criterion"]) not in (qualified, str(r["criterion"])):
            return False
    return not (not missing(c.get("generator")) and not missing(r.get("generator"))
                and str(c["generator"]) != str(r["generator"]))


def trust_for(r: Mapping[str, Any], cal: Mapping[str, Any] | None) -> Trust:
    """The judge's agreement kappa in both groups, its differential bias for the level vs
    the reference, and the raw → corrected gap, where calibration.json has them."""
    t = Trust()
    if not cal:
        return t
    lv, ref = r.get("level"), r.get("reference")
    for c in cal.get("agreement") or []:
        if c.get("metric") != "cohen_kappa":
            continue
        if _match(c, r, lv) and missing(t.kappa_level):
            t.kappa_level = num(c.get("value"))
        elif _match(c, r, ref) and missing(t.kappa_reference):
            t.kappa_reference = num(c.get("value"))
    for c in cal.get("differential_bias") or []:
        if _match(c, r, lv) and str(c.get("reference")) == str(ref):
            t.dbias = num(c.get("estimate", c.get("value")))
            t.dbias_lo, t.dbias_hi = num(c.get("ci_low")), num(c.get("ci_high"))
            break
    for c in cal.get("corrected") or []:
        if c.get("quantity", "gap") != "gap" or not _match(c, r, lv) or \
                str(c.get("reference")) != str(ref):
            continue
        est = c.get("estimator", c.get("estimate_kind"))
        if est in ("judge_only", "raw"):
            t.raw = num(c.get("value"))
        elif est in ("ppi", "corrected"):
            t.corrected, t.corrected_lo, t.corrected_hi = (
                num(c.get("value")), num(c.get("ci_low")), num(c.get("ci_high")))
    return t


# ---------------------------------------------------------------- limits

def mde_of(r: Mapping[str, Any]) -> float:
    """Minimum detectable effect (80% power, two-sided 5%) from the row's CI half-width:
    ``(z_{0.975} + z_{0.8}) * SE`` with ``SE = (ci_high - ci_low) / (2 * 1.96)``. The
    interval already reflects clustering; where there is none, a two-sample MDE from n
    (rates at p = 0.5, scores at SD 1) stands in.

    >>> round(mde_of({"ci_low": -0.1, "ci_high": 0.1}), 3)
    0.143
    """
    lo, hi = num(r.get("ci_low")), num(r.get("ci_high"))
    if not (missing(lo) or missing(hi)) and hi > lo:
        return (Z_ALPHA + Z_POWER) * (hi - lo) / (2 * Z_ALPHA)
    n = num(r.get("n"))
    if missing(n) or n < 4:
        return math.nan
    sd = 0.5 if units_of(str(r.get("metric")), scale_of(r)) == "pp" else 1.0
    return (Z_ALPHA + Z_POWER) * sd * math.sqrt(2 / (n / 2))


def cannot_say(rows: Sequence[Mapping[str, Any]], findings: Sequence[Finding] = (), *,
               limit: int | None = MAX_LIMITS) -> list[Limit]:
    """Tested comparisons that are not findings and could only have detected a gap larger
    than a modest one (:func:`modest`). One entry per metric × attribute (× generator,
    judge, criterion): its best-powered level, so the entry is what the run could at
    best have seen; widest first."""
    keys = {(*_key(f.row, *KEY_COLS), f.row.get("metric")) for f in findings}
    best: dict[tuple, Limit] = {}
    for r in rows:
        if not candidate(r) or (*_key(r, *KEY_COLS), r.get("metric")) in keys:
            continue
        if str(r.get("metric")).startswith(("parse_failure", "refusal", "exposure", "gini",
                                            "no_producer", "producer")):
            continue  # failure rates are not disparities; exposure compares with a target
        u = units_of(str(r.get("metric")), scale_of(r))
        if u in ("ratio", "units"):  # a ratio's MDE is not symmetric; its _diff row says it
            continue
        mde = mde_of(r)
        if missing(mde) or mde <= modest(u, scale_of(r)):
            continue
        g = (str(r.get("metric")), *_key(r, "generator", "judge", "rubric_id", "criterion",
                                         "attribute"))
        cur = best.get(g)
        if cur is None or mde < cur.mde:
            best[g] = Limit(row=dict(r), units=u, mde=mde,
                            n_levels=(cur.n_levels + 1) if cur else 1)
        else:
            cur.n_levels += 1
    out = sorted(best.values(), key=lambda x: -x.mde)
    return out if limit is None else out[:limit]


def summary(findings: Sequence[Finding], limits: Sequence[Limit], n_rows: int,
            family: Mapping[str, Any] | None = None, shown: int | None = None) -> str:
    """The one-paragraph summary above the findings. ``limits``: every imprecise
    comparison (``cannot_say(..., limit=None)``); ``shown``: how many the report lists."""
    fam = family or {}
    how = (f"{fam.get('method', 'BH')} over the report's {fam.get('family_size')} tests"
           if fam.get("family_size") else "the report-wide adjusted p-values")
    head = (f"{len(findings)} finding{'s' if len(findings) != 1 else ''} survive"
            f"{'s' if len(findings) == 1 else ''} multiplicity control ({how}), the noise "
            "floor where one is measured, and the small-cell rule"
            if findings else "No disparity in this run survives multiplicity control "
            f"({how}), the noise floor where one is measured, and the small-cell rule")
    listed = ("listed under what this run cannot say" if shown is None or shown >= len(limits)
              else f"the {shown} least precise are listed under what this run cannot say")
    return (f"{head}, out of {n_rows:,} metric rows. "
            f"{len(limits)} comparison{'s are' if len(limits) != 1 else ' is'} too "
            f"imprecise to rule out a meaningful gap ({listed}). "
            "Absence of a finding is not evidence of fairness; everything else is in the "
            "details below and in metrics.csv.")
