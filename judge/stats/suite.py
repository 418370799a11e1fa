"""Every fairness metric that a scored frame's columns allow, in one table."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import pandas as pd

from judge.stats._metric_table import MIN_CELL, resolve_attributes, to_table
from judge.stats.bootstrap import DEFAULT_B
from judge.stats.counterfactual import counterfactual_metrics
from judge.stats.fairness import (
    demographic_parity,
    equalized_odds,
    failure_rates,
    quality_of_service,
    unawareness_rate,
)
from judge.stats.intersectional import intersectional_cells
from judge.stats.multiple import adjust_table


def all_metrics(frame: pd.DataFrame, attributes: Sequence[str] | None = None, *,
                reference: str | dict | None = None, cluster: str = "cf_group",
                intersections: bool = True, correction: str = "holm",
                decision: str = "decision", score: str = "score", y_true: str = "y_true",
                unaware: str = "infers_attribute", B: int = DEFAULT_B, seed: int = 0,
                alpha: float = 0.05, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Run each metric whose input columns exist and correct p-values per metric.

    ``frame``: a scored frame (``cf_group``, ``attr.*`` and any of ``decision``, ``score``,
    ``y_true``, ``parse_status``/``refused``, ``infers_attribute``; other names through
    the keyword arguments, e.g. ``unaware="score.infers_attribute"``). ``attributes``:
    single attribute names (default: all); with ``intersections`` the counterfactual
    metrics also run on every pair of them, and the intersectional cells on all
    combinations. ``p_adj``: ``correction`` within each metric, across attributes and
    levels. Calibration and exposure need inputs of their own and are not run here.
    """
    names = [a[0] for a in resolve_attributes(frame, attributes) if len(a) == 1]
    cols = set(frame.columns)
    kw = dict(cluster=cluster, B=B, seed=seed, alpha=alpha, min_cell=min_cell)
    rkw = dict(reference=reference, **kw)
    tables = []
    has_dec, has_score = decision in cols, score in cols
    if has_dec or has_score:
        specs = [*names, *(combinations(names, 2) if intersections else [])]
        tables.append(counterfactual_metrics(frame, specs, decision=decision if has_dec
                                             else None, score=score if has_score else None,
                                             **rkw))
    if has_dec:
        tables.append(demographic_parity(frame, names, decision=decision, **rkw))
        if y_true in cols and frame[y_true].notna().any():
            tables.append(equalized_odds(frame, names, decision=decision, y_true=y_true, **kw))
    if has_score:
        tables.append(quality_of_service(frame, names, score=score, **rkw))
        tables.append(intersectional_cells(frame, names, outcome=score,
                                           max_order=None if intersections else 1,
                                           correction=correction, **kw))
    if "parse_status" in cols:
        tables.append(failure_rates(frame, names, **rkw))
    if unaware in cols:
        tables.append(unawareness_rate(frame, names, column=unaware, **rkw))
    out = to_table(pd.concat(tables, ignore_index=True).to_dict("records") if tables else [])
    others = sorted(set(out.metric) - {"cell_diff_vs_rest"})
    return adjust_table(out, correction, family=("metric",), metrics=others)
