"""Reading human-label files (JSONL of HumanLabel records, or CSV with the same columns)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from judge.config import resolve_path
from judge.errors import DataError
from judge.records import HumanLabel
from judge.store import iter_jsonl

REQUIRED = ("target_id", "criterion", "rater", "score")
ALIASES = {"item_id": "target_id", "rubric": "rubric_id"}  # a filled-in labelling sheet


def _num(v: str):
    try:
        f = float(v)
        return int(f) if f.is_integer() else f
    except ValueError:
        return v


def read_human_labels(path: str | Path) -> Iterator[HumanLabel]:
    """Yield HumanLabel records; errors name the file, line and field."""
    p = resolve_path(path)
    if not p.exists():
        raise DataError("human-label file not found", path=p, hint="check human_labels.path")
    if p.suffix.lower() == ".csv":
        with open(p, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            names = [ALIASES.get(c, c) for c in (reader.fieldnames or [])]
            missing = [c for c in REQUIRED if c not in names]
            if missing:
                raise DataError(f"missing column(s) {', '.join(missing)}", path=p, line=1)
            for n, row in enumerate(reader, 2):
                lab = _make(row, p, n)
                if lab is not None:
                    yield lab
        return
    for n, obj in iter_jsonl(p):
        lab = _make(obj, p, n)
        if lab is not None:
            yield lab


def _make(row: dict, p: Path, n: int) -> HumanLabel | None:
    """A label from one row; None for a sheet row nobody has labelled yet."""
    row = {ALIASES.get(k, k): v for k, v in row.items()}
    if row.get("rater") in (None, "") and row.get("score") in (None, ""):
        return None
    for c in REQUIRED:
        if row.get(c) in (None, ""):
            raise DataError("missing value", path=p, line=n, field=c)
    score = _num(row["score"]) if isinstance(row["score"], str) else row["score"]
    rid = row.get("rubric_id") or None
    return HumanLabel(label_id=HumanLabel.make_id(row["target_id"], row["criterion"],
                                                  row["rater"], rid),
                      target_id=row["target_id"], criterion=row["criterion"], rater=row["rater"],
                      score=score, rubric_id=rid, rubric_version=row.get("rubric_version") or None,
                      meta=row.get("meta") or ({"inclusion_prob": float(row["inclusion_prob"])}
                                                if row.get("inclusion_prob") not in (None, "")
                                                else {}))
