"""Reading human-label files (JSONL of HumanLabel records, or CSV with the same columns)."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from judge.config import resolve_path
from judge.errors import DataError
from judge.records import HumanLabel
from judge.store import iter_jsonl

REQUIRED = ("target_id", "criterion", "rater", "score")
ALIASES = {"item_id": "target_id", "rubric": "rubric_id"}  # a filled-in labelling sheet


_BOOLS = {"true": True, "false": False}


def _num(v: str):
    """A CSV cell as the value it spells: ``true``/``false`` (any case) as booleans,
    numbers as int or float, anything else as text.

    >>> _num("false"), _num("TRUE"), _num("4"), _num("2.5"), _num("good")
    (False, True, 4, 2.5, 'good')
    """
    s = v.strip()
    if s.lower() in _BOOLS:
        return _BOOLS[s.lower()]
    if not s.isascii():  # float() reads Arabic-Indic digits: keep such text as text
        return v
    try:
        f = float(s)
        return int(f) if f.is_integer() else f
    except ValueError:
        return v


def read_human_labels(path: str | Path) -> Iterator[HumanLabel]:
    """Yield HumanLabel records; errors name the file, line and field.

    The whole file is validated before the first label is yielded, so a bad row never
    leaves some labels of the file written and the rest not.
    """
    p = resolve_path(path)
    if not p.exists():
        raise DataError("human-label file not found", path=p, hint="check human_labels.path")
    if not p.is_file():
        raise DataError("not a file", path=p, hint="check human_labels.path")
    try:
        labels = list(_read(p))
    except UnicodeDecodeError as err:
        raise DataError(f"not UTF-8 text (byte {err.start})", path=p,
                        hint="save the file as UTF-8") from err
    yield from labels


def _read(p: Path) -> Iterator[HumanLabel]:
    if p.suffix.lower() == ".csv":
        with open(p, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            names = [ALIASES.get(c, c) for c in (reader.fieldnames or [])]
            missing = [c for c in REQUIRED if c not in names]
            if missing:
                raise DataError(f"missing column(s) {', '.join(missing)}", path=p, line=1)
            for n, row in enumerate(reader, 2):
                if None in row:
                    raise DataError("more cells than header columns", path=p, line=n,
                                    hint="quote cells that contain commas")
                lab = _make(row, p, n)
                if lab is not None:
                    yield lab
        return
    for n, obj in iter_jsonl(p):
        if not isinstance(obj, dict):
            raise DataError("expected a JSON object", path=p, line=n)
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
    if isinstance(score, float) and not math.isfinite(score):
        raise DataError(f"score {row['score']!r} is not a finite number", path=p, line=n,
                        field="score")
    if not isinstance(score, (str, int, float, bool)):
        raise DataError(f"score must be a number, true/false or a label, not "
                        f"{type(score).__name__}", path=p, line=n, field="score")
    for c in ("target_id", "criterion", "rater"):
        if not isinstance(row[c], (str, int)) or isinstance(row[c], bool):
            raise DataError("must be text", path=p, line=n, field=c)
    meta = row.get("meta") or {}
    if not isinstance(meta, dict):
        raise DataError("meta must be an object", path=p, line=n, field="meta")
    if row.get("inclusion_prob") not in (None, ""):
        try:
            prob = float(row["inclusion_prob"])
        except (TypeError, ValueError) as err:
            raise DataError("inclusion_prob must be a number in (0, 1]", path=p, line=n,
                            field="inclusion_prob") from err
        if not 0 < prob <= 1:
            raise DataError("inclusion_prob must be a number in (0, 1]", path=p, line=n,
                            field="inclusion_prob")
        meta = {**meta, "inclusion_prob": prob}
    rid = row.get("rubric_id") or None
    try:
        return HumanLabel(label_id=HumanLabel.make_id(str(row["target_id"]),
                                                      str(row["criterion"]), str(row["rater"]),
                                                      rid),
                          target_id=str(row["target_id"]), criterion=str(row["criterion"]),
                          rater=str(row["rater"]), score=score, rubric_id=rid,
                          rubric_version=row.get("rubric_version") or None, meta=meta)
    except ValidationError as err:
        e = err.errors()[0]
        raise DataError(e["msg"], path=p, line=n,
                        field=".".join(map(str, e["loc"])) or None) from err
