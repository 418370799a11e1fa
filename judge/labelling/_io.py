"""Labelling files: sheets, key, manifest and the labels JSONL (I/O at the edges).

Layout of a sheet directory::

    raters/sheet-<rater>.csv    rater-facing (spreadsheet; formula-neutralised cells)
    raters/sheet-<rater>.jsonl  rater-facing (the labelling page reads this)
    key.jsonl, key.csv          row id -> item, stratum, inclusion probability, weight, groups
    sheet.json                  manifest: seed, raters, overlap, criteria, files

Only ``raters/`` goes to raters.
"""

from __future__ import annotations

import csv
import json
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from judge.errors import DataError
from judge.ids import content_id
from judge.labelling._model import (
    SCHEMA_VERSION,
    Answer,
    CriterionSpec,
    KeyRow,
    SheetManifest,
    SheetRow,
)
from judge.labelling._sheet import Sheets
from judge.records import HumanLabel, now_iso

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
RATER_DIR = "raters"


def neutralise(cell: Any) -> Any:
    """A CSV cell a spreadsheet will not run as a formula: text starting with ``= + - @``,
    a tab or a carriage return gets a leading apostrophe (OWASP's CSV-injection advice).

    >>> neutralise("=HYPERLINK(\\"http://x\\")"), neutralise("-3"), neutralise(4)
    ('\\'=HYPERLINK("http://x")', "'-3", 4)
    """
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


def unneutralise(cell: str) -> str:
    """Undo :func:`neutralise` on a cell read back from a sheet."""
    if cell.startswith("'") and cell[1:].startswith(FORMULA_START):
        return cell[1:]
    return cell


def describe_scale(c: CriterionSpec) -> str:
    """``"helpfulness: 1-5 (1 = useless; ...)"`` for a spreadsheet column."""
    vals = c.values()
    head = f"{c.id}: {vals[0]}-{vals[-1]}" if c.kind == "likert" else \
        f"{c.id}: one of {', '.join(map(str, vals))}"
    anchors = "; ".join(f"{k} = {v}" for k, v in c.anchors.items())
    return f"{head}. {c.question}" + (f" ({anchors})" if anchors else "")


def _csv_columns(rows: Sequence[SheetRow]) -> list[str]:
    crits = sorted({c.id for r in rows for c in r.criteria})
    return ["row_id", "position", "rater", "rubric", "query", "response", "scale",
            *[f"score.{c}" for c in crits], "skip_reason", "seconds"]


def write_sheets(sheets: Sheets, out_dir: str | Path, *, seed: int, overlap: float,
                 per_item: int, meta: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write every rater's copy (CSV + JSONL), the key (JSONL + CSV) and ``sheet.json``."""
    out = Path(out_dir)
    (out / RATER_DIR).mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, rows in sheets.copies.items():
        stem = out / RATER_DIR / f"sheet-{_safe(name)}"
        _write_jsonl(stem.with_suffix(".jsonl"), (r.model_dump(mode="json") for r in rows))
        cols = _csv_columns(rows)
        with open(stem.with_suffix(".csv"), "w", encoding="utf-8", newline="") as fh:
            wr = csv.DictWriter(fh, cols)
            wr.writeheader()
            for r in rows:
                cells = {"row_id": r.row_id, "position": r.position, "rater": r.rater,
                         "rubric": r.rubric, "query": r.query, "response": r.response,
                         "scale": "\n".join(describe_scale(c) for c in r.criteria)}
                wr.writerow({k: neutralise(v) for k, v in cells.items()})
        paths[f"csv:{name}"] = stem.with_suffix(".csv")
        paths[f"jsonl:{name}"] = stem.with_suffix(".jsonl")
    _write_jsonl(out / "key.jsonl", (k.model_dump(mode="json") for k in sheets.key))
    groups = sorted({g for k in sheets.key for g in k.groups})
    with open(out / "key.csv", "w", encoding="utf-8", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(["row_id", "item_id", "rubric_id", "stratum", "inclusion_prob", "weight",
                     "cluster", "raters", *[f"group.{g}" for g in groups]])
        for k in sheets.key:
            wr.writerow([neutralise(x) for x in (
                k.row_id, k.item_id, k.rubric_id or "", k.stratum, k.inclusion_prob, k.weight,
                k.cluster or "", ";".join(k.raters), *[k.groups.get(g, "") for g in groups])])
    paths["key"], paths["key_csv"] = out / "key.jsonl", out / "key.csv"
    criteria = {r.rubric: [c.model_dump(mode="json") for c in r.criteria]
                for rows in sheets.copies.values() for r in rows}
    manifest = SheetManifest(
        sheet_id=content_id("sheet", [k.model_dump(mode="json") for k in sheets.key]),
        seed=seed, raters=tuple(sheets.copies), overlap=overlap,
        raters_per_overlap_item=per_item, n_items=len(sheets.key),
        files={k: str(v.relative_to(out)) for k, v in paths.items()},
        created_at=now_iso("milliseconds"),
        meta={**(meta or {}), "criteria": criteria})
    (out / "sheet.json").write_text(json.dumps(manifest.model_dump(mode="json"), indent=2,
                                               ensure_ascii=False) + "\n", encoding="utf-8")
    paths["manifest"] = out / "sheet.json"
    return paths


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _write_jsonl(path: Path, objs: Iterable[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for o in objs:
            fh.write(json.dumps(o, ensure_ascii=False, sort_keys=True) + "\n")


def _read_jsonl(path: Path, *, tolerate_torn_tail: bool = False) -> Iterator[tuple[int, dict]]:
    try:
        lines = Path(path).read_text(encoding="utf-8").split("\n")
    except OSError as err:
        raise DataError(f"cannot read: {err}", path=path) from err
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            if tolerate_torn_tail and n == len(lines):  # a write cut off by a kill
                return
            raise DataError(f"not JSON: {err.msg}", path=path, line=n) from err
        if obj.get("schema_version", 1) > SCHEMA_VERSION:
            raise DataError(f"schema_version {obj['schema_version']} is newer than this "
                            f"judge understands ({SCHEMA_VERSION})", path=path, line=n,
                            hint="upgrade judge")
        yield n, obj


def _model_rows(path: Path, model: type, **kw: Any) -> list:
    out = []
    for n, obj in _read_jsonl(path, **kw):
        try:
            out.append(model.model_validate(obj))
        except ValueError as err:
            raise DataError(f"not a {model.__name__}: {err}", path=path, line=n) from err
    return out


def read_sheet(path: str | Path) -> list[SheetRow]:
    """A rater's copy (``raters/sheet-<rater>.jsonl``)."""
    return _model_rows(Path(path), SheetRow)


def read_key(path: str | Path) -> dict[str, KeyRow]:
    """``key.jsonl`` (or the sheet directory holding it) as row id -> key row."""
    p = Path(path)
    p = p / "key.jsonl" if p.is_dir() else p
    if not p.exists():
        raise DataError("key file not found", path=p,
                        hint="pass the key.jsonl written beside the raters/ directory")
    return {k.row_id: k for k in _model_rows(p, KeyRow)}


def read_manifest(path: str | Path) -> SheetManifest:
    p = Path(path)
    p = p / "sheet.json" if p.is_dir() else p
    try:
        return SheetManifest.model_validate_json(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"not a sheet manifest: {err}", path=p) from err


def read_answers(path: str | Path) -> list[Answer]:
    """Every answer in a labels JSONL, in file order (a torn last line is ignored)."""
    p = Path(path)
    return _model_rows(p, Answer, tolerate_torn_tail=True) if p.exists() else []


class AnswerLog:
    """Append-only labels JSONL: every answer is written, flushed and fsynced before the
    call returns, so a killed process loses nothing that was acknowledged."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._repair_tail()

    def _repair_tail(self) -> None:
        """Drop a torn last line (a write cut off by a kill was never acknowledged)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        data = self.path.read_bytes()
        if data.endswith(b"\n"):
            return
        with open(self.path, "rb+") as fh:
            fh.truncate(data.rfind(b"\n") + 1)
            fh.flush()
            os.fsync(fh.fileno())

    def append(self, answer: Answer) -> None:
        line = json.dumps(answer.model_dump(mode="json"), ensure_ascii=False,
                          sort_keys=True) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


def latest_answers(answers: Iterable[Answer]) -> dict[tuple[str, str], Answer]:
    """The answer that counts for each (rater, row): the last one written."""
    out: dict[tuple[str, str], Answer] = {}
    for a in answers:
        out[(a.rater, a.row_id)] = a
    return out


def answers_to_labels(answers: Iterable[Answer], key: dict[str, KeyRow]) -> list[HumanLabel]:
    """HumanLabel records (one per criterion) for every rater's last, non-skipped answer,
    with the item id, rubric and inclusion probability taken from the key."""
    out = []
    for (rater, row_id), a in sorted(latest_answers(answers).items()):
        if a.skipped:
            continue
        k = key.get(row_id)
        if k is None:
            raise DataError(f"answer for row {row_id!r} is not in the key",
                            hint="use the key.jsonl of the sheet these answers came from")
        for crit, score in sorted(a.scores.items()):
            meta: dict[str, Any] = {"row_id": row_id, "source": a.source}
            if k.inclusion_prob is not None:
                meta["inclusion_prob"] = round(k.inclusion_prob, 6)
            if a.seconds is not None:
                meta["seconds"] = a.seconds
            out.append(HumanLabel(
                label_id=HumanLabel.make_id(k.item_id, crit, rater, k.rubric_id),
                target_id=k.item_id, criterion=crit, rater=rater, score=score,
                rubric_id=k.rubric_id, rubric_version=k.rubric_version, meta=meta))
    return out


def specs_by_rubric(manifest: Any) -> dict[str, dict[str, CriterionSpec]]:
    """The criteria of each rubric in a sheet manifest, by id."""
    return {rb: {c["id"]: CriterionSpec.model_validate(c) for c in cs}
            for rb, cs in (manifest.meta.get("criteria") or {}).items()}


def read_filled_csv(path: str | Path, manifest: Any, *, default_rater: str | None = None
                    ) -> list[Answer]:
    """Answers from a rater's filled-in CSV copy (rows with no score and no skip reason are
    not answered yet). Scores are checked against the scale."""
    p = Path(path)
    specs = specs_by_rubric(manifest)
    out = []
    with open(p, encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.DictReader(fh), 2):
            rubric = unneutralise(row.get("rubric") or "")
            rater = unneutralise(row.get("rater") or "") or default_rater
            scores: dict[str, Any] = {}
            for col, raw in row.items():
                if not col or not col.startswith("score.") or raw in (None, ""):
                    continue
                crit = col.removeprefix("score.")
                spec = specs.get(rubric, {}).get(crit)
                if spec is None:
                    raise DataError(f"criterion {crit!r} is not in rubric {rubric!r}",
                                    path=p, line=n, field=col)
                try:
                    scores[crit] = spec.parse(unneutralise(raw))
                except ValueError as err:
                    raise DataError(str(err), path=p, line=n, field=col) from err
            reason = unneutralise(row.get("skip_reason") or "").strip()
            if not scores and not reason:
                continue
            if not rater:
                raise DataError("missing value", path=p, line=n, field="rater")
            secs = row.get("seconds") or ""
            out.append(Answer(row_id=unneutralise(row["row_id"]), rater=rater, scores=scores,
                              skipped=not scores, skip_reason=reason or None,
                              answered_at=now_iso("milliseconds"),
                              seconds=float(secs) if secs else None,
                              source="sheet", sheet=manifest.sheet_id))
    return out


def is_answers_file(path: str | Path) -> bool:
    """True for a labels JSONL of :class:`Answer` lines (they have a ``row_id``)."""
    p = Path(path)
    if p.suffix != ".jsonl" or not p.exists():
        return False
    with open(p, encoding="utf-8") as fh:
        first = next((ln for ln in fh if ln.strip()), "{}")
    try:
        return "row_id" in json.loads(first)
    except json.JSONDecodeError:
        return False


def _is_sheet_csv(path: Path) -> bool:
    with open(path, encoding="utf-8") as fh:
        return "row_id" in next(csv.reader(fh), [])
