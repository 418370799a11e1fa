"""``judge.load(run_dir)``: a run's JSONL as pandas DataFrames, joined and ready for groupby."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from judge.frame_schema import CALIBRATION_RENAMED
from judge.store import latest_dicts

ATTR_PREFIX = "attr."
SCORE_PREFIX = "score."
#: Record fields renamed in the frames: as columns they would shadow ``DataFrame.mode``
#: and ``DataFrame.sample`` (``df.mode`` is the method, not the column).
RENAMED = {"mode": "judge_mode", "sample": "sample_index"}


def score_column(rubric_id: str, criterion: str) -> str:
    """The judgments frame's column of one rubric criterion.

    >>> score_column("hiring_screening", "decision")
    'score.hiring_screening.decision'
    """
    return f"{SCORE_PREFIX}{rubric_id}.{criterion}"


def split_score_column(col: str) -> tuple[str, str]:
    """``score.<rubric>.<criterion>`` -> ``(rubric, criterion)`` (ids are snake_case).

    >>> split_score_column("score.lending_decision.decision")
    ('lending_decision', 'decision')
    """
    rubric, _, criterion = col.removeprefix(SCORE_PREFIX).partition(".")
    if not col.startswith(SCORE_PREFIX) or not criterion:
        raise ValueError(f"not a score.<rubric>.<criterion> column: {col!r}")
    return rubric, criterion


def score_columns(frame: pd.DataFrame) -> list[str]:
    """The ``score.<rubric>.<criterion>`` columns of ``frame``, in its order."""
    return [c for c in frame.columns if isinstance(c, str) and c.startswith(SCORE_PREFIX)]


@dataclass
class RunFrames:
    """DataFrames of one run. ``judgments`` is joined with its generation and query;
    ``metrics`` holds metrics.json's rows (as metrics.csv), ``calibration`` each table of
    calibration.json (``agreement``, ``bias``, ``differential_bias``, ``corrected``, ...).
    Their columns: :mod:`judge.frame_schema` (``judge schema metrics``, ``judge schema
    calibration``). No column name is a ``DataFrame`` attribute (``df.mode`` is a method):
    such fields are renamed (:data:`RENAMED`, ``CALIBRATION_RENAMED``)."""

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
    """The latest record per id, in id order: a run's files are in completion order, which
    concurrency makes differ between two runs of one config, and every statistic computed
    from the frames (bootstrap draws included) must not depend on it."""
    df = pd.DataFrame(list(latest_dicts(path, id_field).values()))
    if df.empty or id_field not in df:
        return df
    return df.sort_values(id_field, kind="stable").reset_index(drop=True)


def load(run_dir: str | Path) -> RunFrames:
    """Load a run directory into DataFrames.

    - ``queries``: one row per query, attributes as ``attr.<name>`` columns.
    - ``generations``: one row per generation (latest record per id), ``attr.*`` columns,
      the sample number as ``sample_index``.
    - ``judgments``: one row per judgment with a ``score.<rubric>.<criterion>`` column per
      rubric criterion (no unqualified alias: two rubrics' ``decision`` are never one
      column), the judging mode as ``judge_mode``, the target generation's ``response``
      and ``sample_index`` and the query's ``template_id``, ``ground_truth`` and
      ``expression`` joined in, ``attr.*`` columns.
    - ``human_labels``: one row per label, with ``inclusion_prob`` and ``weight``.
    - ``metrics``: the metric table (metrics.json); ``calibration``: calibration.json's
      tables by name (empty when those stages have not run).

    Rows are in id order, not in the files' completion order, so two runs of one config
    give the same frames (and the same bootstrap draws downstream).

    >>> # f = judge.load("runs/default")
    >>> # f.judgments.groupby("attr.race")["score.answer_quality.helpfulness"].mean()
    """
    d = Path(run_dir)
    q = _expand(_frame(d / "queries.jsonl", "query_id"), "attributes", ATTR_PREFIX)
    g = _expand(_frame(d / "generations.jsonl", "generation_id"), "attributes", ATTR_PREFIX)
    g = g.rename(columns=RENAMED)
    j = _frame(d / "judgments.jsonl", "judgment_id")
    if not j.empty:
        j = _expand(j, "attributes", ATTR_PREFIX)
        j = _qualified_scores(j).rename(columns=RENAMED)
        j["generation_id"] = j["target_ids"].map(lambda t: t[0])
        j["query_id"] = j["query_ids"].map(lambda t: t[0] if t else None)
        if not g.empty:
            j = j.merge(g[["generation_id", "response", "sample_index"]], on="generation_id",
                        how="left")
        if not q.empty:
            qcols = q[["query_id", "template_id", "ground_truth", "expression"]]
            j = j.merge(qcols, on="query_id", how="left")
    h = _with_weights(_frame(d / "human_labels.jsonl", "label_id"))
    return RunFrames(q, g, j, h, _metrics(d / "metrics.json"),
                     _calibration(d / "calibration.json"))


def _qualified_scores(j: pd.DataFrame) -> pd.DataFrame:
    """``scores`` as one ``score.<rubric>.<criterion>`` column per rubric criterion."""
    if "scores" not in j:
        return j
    wide = pd.DataFrame([{score_column(r, k): v for k, v in (s or {}).items()}
                         for r, s in zip(j["rubric_id"], j["scores"], strict=True)],
                        index=j.index)
    return pd.concat([j.drop(columns=["scores"]), wide[sorted(wide.columns)]], axis=1)


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
    return {k: pd.DataFrame(v).rename(columns=CALIBRATION_RENAMED) for k, v in data.items()
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
