"""``judge.load(run_dir)``: a run's JSONL as pandas DataFrames, joined and ready for groupby."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from judge.store import latest_dicts

ATTR_PREFIX = "attr."
SCORE_PREFIX = "score."


@dataclass
class RunFrames:
    """DataFrames of one run. ``judgments`` is joined with its generation and query;
    ``metrics`` holds metrics.json's rows (as metrics.csv), ``calibration`` each table of
    calibration.json (``agreement``, ``bias``, ``differential_bias``, ``corrected``, ...)."""

    queries: pd.DataFrame
    generations: pd.DataFrame
    judgments: pd.DataFrame
    human_labels: pd.DataFrame
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    calibration: dict[str, pd.DataFrame] = field(default_factory=dict)


def _expand(df: pd.DataFrame, col: str, prefix: str) -> pd.DataFrame:
    if col not in df or df.empty:
        return df
    wide = pd.json_normalize(df[col].tolist()).add_prefix(prefix)
    wide.index = df.index
    return pd.concat([df.drop(columns=[col]), wide], axis=1)


def _frame(path: Path, id_field: str) -> pd.DataFrame:
    return pd.DataFrame(list(latest_dicts(path, id_field).values()))


def load(run_dir: str | Path) -> RunFrames:
    """Load a run directory into DataFrames.

    - ``queries``: one row per query, attributes as ``attr.<name>`` columns.
    - ``generations``: one row per generation (latest record per id), ``attr.*`` columns.
    - ``judgments``: one row per judgment with ``score.<criterion>`` columns, the target
      generation's ``response``, ``generator`` and ``template`` joined in, ``attr.*`` columns.
    - ``human_labels``: one row per label, with ``inclusion_prob`` and ``weight``.
    - ``metrics``: the metric table (metrics.json); ``calibration``: calibration.json's
      tables by name (empty when those stages have not run).

    >>> # frames = judge.load("runs/default"); frames.judgments.groupby("attr.race")["score.quality"].mean()
    """
    d = Path(run_dir)
    q = _expand(_frame(d / "queries.jsonl", "query_id"), "attributes", ATTR_PREFIX)
    g = _expand(_frame(d / "generations.jsonl", "generation_id"), "attributes", ATTR_PREFIX)
    j = _frame(d / "judgments.jsonl", "judgment_id")
    if not j.empty:
        j = _expand(j, "attributes", ATTR_PREFIX)
        j = _expand(j, "scores", SCORE_PREFIX)
        j["generation_id"] = j["target_ids"].map(lambda t: t[0])
        j["query_id"] = j["query_ids"].map(lambda t: t[0] if t else None)
        if not g.empty:
            j = j.merge(g[["generation_id", "response", "sample"]], on="generation_id", how="left")
        if not q.empty:
            qcols = q[["query_id", "template_id", "ground_truth", "expression"]]
            j = j.merge(qcols, on="query_id", how="left")
    h = _with_weights(_frame(d / "human_labels.jsonl", "label_id"))
    return RunFrames(q, g, j, h, _metrics(d / "metrics.json"),
                     _calibration(d / "calibration.json"))


def _with_weights(h: pd.DataFrame) -> pd.DataFrame:
    """``inclusion_prob`` (from each label's meta) and ``weight`` = 1 / inclusion_prob: the
    design weights that reproduce the calibration stage's judge-bias figures."""
    if h.empty:
        return h
    meta = h["meta"] if "meta" in h else pd.Series([{}] * len(h), index=h.index)
    pi = pd.to_numeric(meta.map(lambda m: (m or {}).get("inclusion_prob")), errors="coerce")
    return h.assign(inclusion_prob=pi, weight=1.0 / pi)


def _metrics(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame()
    return pd.DataFrame(json.loads(path.read_text(encoding="utf-8")).get("metrics", []))


def _calibration(path: Path) -> dict[str, pd.DataFrame]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: pd.DataFrame(v) for k, v in data.items()
            if isinstance(v, list) and all(isinstance(r, dict) for r in v)}


def keep_rubric_hashes(frames: RunFrames, rubrics: list[Any]) -> RunFrames:
    """Only the judgments made with the resolved rubrics' content (id, version and hash).

    A released version edited in place (refused at run time since) may have left judgments
    with another hash under the same ``id@version``: they are never mixed in.
    """
    j = frames.judgments
    if j.empty or "rubric_hash" not in j:
        return frames
    keep = {(rb.id, rb.version, rb.hash) for rb in rubrics}
    mask = [k in keep for k in zip(j["rubric_id"], j["rubric_version"], j["rubric_hash"])]
    return RunFrames(frames.queries, frames.generations, j[mask].reset_index(drop=True),
                     frames.human_labels, frames.metrics, frames.calibration)
