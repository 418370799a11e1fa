"""``judge.load(run_dir)``: a run's JSONL as pandas DataFrames, joined and ready for groupby."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from judge.store import latest_dicts

ATTR_PREFIX = "attr."
SCORE_PREFIX = "score."


@dataclass
class RunFrames:
    """DataFrames of one run. ``judgments`` is joined with its generation and query."""

    queries: pd.DataFrame
    generations: pd.DataFrame
    judgments: pd.DataFrame
    human_labels: pd.DataFrame


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
    - ``human_labels``: one row per label.

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
    h = _frame(d / "human_labels.jsonl", "label_id")
    return RunFrames(q, g, j, h)


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
                     frames.human_labels)
