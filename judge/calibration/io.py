"""Read and validate standalone judgments and human-label files (JSONL, CSV, Label Studio).

Judgments: ``{item_id, judge, criterion, score, groups: {attr: value}, cluster?}`` per
line (CSV: ``group.<attr>`` columns). Labels: ``{item_id, rater, criterion, score}``.
Validation never drops a row silently: unknown item ids, out-of-scale or missing scores
and duplicate rows are excluded and reported with counts and examples (file:line).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from judge.calibration.scale import ScaleSpec, infer_scale
from judge.errors import DataError
from judge.frames import ATTR_PREFIX, SCORE_PREFIX, score_columns

JUDGMENT_FIELDS = ("item_id", "judge", "criterion", "score")
LABEL_FIELDS = ("item_id", "rater", "criterion", "score")
MAX_EXAMPLES = 5
LINE = "_line"
SOURCE = "_source"


@dataclass
class Issue:
    """One kind of problem found in an input file, with how many rows and a few examples."""

    file: str
    kind: str
    count: int
    action: str
    examples: list[str] = field(default_factory=list)

    def one_line(self) -> str:
        ex = "; e.g. " + ", ".join(self.examples) if self.examples else ""
        return f"{self.file}: {self.count} {self.kind} ({self.action}){ex}"


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"invalid JSON: {err.msg}", path=path, line=i,
                                hint="one JSON object per line") from err
            if not isinstance(obj, dict):
                raise DataError("expected a JSON object", path=path, line=i)
            groups = obj.pop("groups", None) or {}
            if not isinstance(groups, dict):
                raise DataError("groups must be an object {attribute: value}", path=path,
                                line=i, field="groups")
            for k, v in groups.items():
                if isinstance(v, (dict, list)):
                    raise DataError("a group value must be a string or number", path=path,
                                    line=i, field=f"groups.{k}")
            # null stays missing (NaN): a missing value is never a group level
            obj.update({f"group.{k}": v for k, v in groups.items()})
            obj[LINE] = i
            rows.append(obj)
    return rows


def read_table(path: str | Path, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A JSONL or CSV file as a frame with ``_line`` (1-based line in the file).

    ``columns`` renames source columns to ours, e.g. ``{"item_id": "generation"}``.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path=path)
    if path.suffix.lower() == ".csv":
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        except UnicodeDecodeError as err:
            raise DataError(f"not UTF-8 text (byte {err.start})", path=path,
                            hint="save the file as UTF-8") from err
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise DataError(f"not a readable CSV: {str(err).splitlines()[0][:200]}",
                            path=path) from err
        df[LINE] = range(2, len(df) + 2)
    elif path.suffix.lower() in (".jsonl", ".ndjson"):
        try:
            df = pd.DataFrame(_read_jsonl(path))
        except UnicodeDecodeError as err:
            raise DataError(f"not UTF-8 text (byte {err.start})", path=path,
                            hint="save the file as UTF-8") from err
    else:
        raise DataError(f"unknown file type {path.suffix!r}", path=path,
                        hint="use .jsonl or .csv")
    if columns:
        missing = [src for src in columns.values() if src not in df.columns]
        if missing:
            raise DataError(f"mapped column(s) {missing} not in file; columns are "
                            f"{[c for c in df.columns if c != LINE]}", path=path)
        df = df.rename(columns={src: ours for ours, src in columns.items()})
    df[SOURCE] = str(path)
    return df


def _require(df: pd.DataFrame, fields, path: str) -> None:
    missing = [f for f in fields if f not in df.columns]
    if missing:
        raise DataError(f"missing required field(s) {missing}; found "
                        f"{[c for c in df.columns if not c.startswith('_')]}", path=path,
                        hint="map columns with --map ours=theirs")


def read_judgments(path: str | Path, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Judgments file -> frame with ``item_id, judge, criterion, score, cluster, group.*``.

    A missing ``cluster`` defaults to the item id (each item its own cluster).
    """
    df = read_table(path, columns)
    _require(df, JUDGMENT_FIELDS, str(path))
    if "cluster" not in df.columns:
        df["cluster"] = df["item_id"]
    df["cluster"] = df["cluster"].fillna(df["item_id"]).astype(str)
    for col in ("item_id", "judge", "criterion"):
        df[col] = _as_str(df[col])
    return df


def _as_str(col: pd.Series) -> pd.Series:
    """Text ids, keeping a missing value missing (never the string "None" or "nan")."""
    return col.map(lambda v: v if _missing(v) else str(v)).astype(object)


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def read_labels(path: str | Path, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Human labels (JSONL/CSV, or a Label Studio ``.json`` export) -> frame."""
    if Path(path).suffix.lower() == ".json":
        return read_label_studio(path)
    df = read_table(path, columns)
    _require(df, LABEL_FIELDS, str(path))
    for col in ("item_id", "rater", "criterion"):
        df[col] = _as_str(df[col])
    return df


def read_label_studio(path: str | Path, item_field: str = "item_id") -> pd.DataFrame:
    """A Label Studio JSON export -> label frame.

    Each task's ``data[item_field]`` is the item id; each non-cancelled annotation is a
    rater (``completed_by``: id or ``{"email"}``); each result is a criterion
    (``from_name``) with a ``choices``, ``rating``, ``number`` or ``text`` value.
    """
    path = Path(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"not a Label Studio JSON export: {err}", path=path) from err
    if not isinstance(tasks, list):
        raise DataError("expected a JSON list of tasks", path=path)
    rows = []
    for t, task in enumerate(tasks):
        item = (task.get("data") or {}).get(item_field)
        if item is None:
            raise DataError(f"task {t} has no data.{item_field}", path=path,
                            field=f"[{t}].data.{item_field}",
                            hint="pass item_field= the data key holding the item id")
        for a in task.get("annotations") or []:
            if a.get("was_cancelled"):
                continue
            who = a.get("completed_by")
            rater = who.get("email", who.get("id")) if isinstance(who, dict) else who
            for r in a.get("result") or []:
                rows.append({"item_id": str(item), "rater": str(rater),
                             "criterion": str(r.get("from_name")),
                             "score": _ls_value(r.get("value") or {}), LINE: t + 1})
    df = pd.DataFrame(rows, columns=[*LABEL_FIELDS, LINE])
    df[SOURCE] = f"{path}#task"
    return df


def _ls_value(value: dict):
    for key in ("choices", "rating", "number", "text"):
        if key in value:
            v = value[key]
            return v[0] if isinstance(v, list) and len(v) == 1 else v
    return None


def _where(df: pd.DataFrame) -> pd.Series:
    return df[SOURCE].astype(str) + ":" + df[LINE].astype(str)


def _issue(issues: list[Issue], file: str, kind: str, bad: pd.DataFrame, action: str,
           cols=("item_id", "score")) -> None:
    if len(bad):
        ex = [f"{w} " + " ".join(f"{c}={r[c]!r}" for c in cols if c in r)
              for w, (_, r) in zip(_where(bad.head(MAX_EXAMPLES)),
                                   bad.head(MAX_EXAMPLES).iterrows(), strict=True)]
        issues.append(Issue(file, kind, len(bad), action, ex))


def _score_kind(v: object) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        try:
            float(v)
            return "numeric text" if v.strip().isascii() else "non-ASCII digits"
        except ValueError:
            return "text"
    return type(v).__name__


def scale_issues(judgments: pd.DataFrame, labels: pd.DataFrame, scales: Mapping[str, ScaleSpec],
                 inferred: list[str], file: str) -> list[Issue]:
    """Loud notes on what was inferred and on odd score values: the inferred scale of each
    criterion, mixed score types, non-finite values (they are out of scale)."""
    out = []
    for c in sorted(scales):
        vals = [v for v in (*judgments.loc[judgments["criterion"] == c, "score"],
                            *labels.loc[labels["criterion"] == c, "score"]) if not _missing(v)]
        kinds = sorted({_score_kind(v) for v in vals})
        if c in inferred:
            out.append(Issue(file, f"scores of {c!r}: scale inferred as "
                           f"{scales[c].describe()}", len(vals),
                           "pass --scale (or the rubric) to set it; values off it are excluded"))
        if len(kinds) > 1 or "non-ASCII digits" in kinds:
            out.append(Issue(file, f"scores of {c!r} of mixed types ({', '.join(kinds)})",
                             len(vals), "read as one scale; check the file"))
        inf = [v for v in vals if isinstance(v, float) and v in (math.inf, -math.inf)]
        if inf:
            out.append(Issue(file, f"non-finite scores of {c!r}", len(inf), "excluded"))
    return out


def resolve_scales(judgments: pd.DataFrame, labels: pd.DataFrame,
                   scale: ScaleSpec | Mapping[str, ScaleSpec] | None
                   ) -> tuple[dict[str, ScaleSpec], list[str]]:
    """A scale per criterion: given, else inferred from the scores. Also the inferred names."""
    crits = sorted(set(judgments["criterion"]))
    out, inferred = {}, []
    for c in crits:
        s = scale if isinstance(scale, ScaleSpec) else (scale or {}).get(c)
        if s is None:
            vals = list(judgments.loc[judgments["criterion"] == c, "score"])
            vals += list(labels.loc[labels["criterion"] == c, "score"])
            s = infer_scale(vals)
            inferred.append(c)
        out[c] = s
    return out, inferred


def _normalize(df: pd.DataFrame, scales: Mapping[str, ScaleSpec], file: str,
               issues: list[Issue]) -> pd.DataFrame:
    raw = df["score"]
    missing = raw.isna()
    norm = pd.Series([scales[c].normalize(v) if c in scales else None
                      for c, v in zip(df["criterion"], raw, strict=True)], index=df.index,
                     dtype=object)
    off = norm.isna() & ~missing
    _issue(issues, file, "missing scores", df[missing], "excluded")
    _issue(issues, file, "out-of-scale scores", df[off], "excluded",
           cols=("item_id", "criterion", "score"))
    out = df[~norm.isna()].copy()
    out["score"] = norm[~norm.isna()]
    return out


def _dedupe(df: pd.DataFrame, key: list[str], file: str, issues: list[Issue]) -> pd.DataFrame:
    dup = df.duplicated(key, keep=False)
    if not dup.any():
        return df
    n_scores = df[dup].groupby(key)["score"].transform("nunique")
    conflict = pd.Series(False, index=df.index)
    conflict[n_scores.index] = n_scores > 1
    same = dup & ~conflict
    extra = same & df.duplicated(key, keep="first")
    _issue(issues, file, f"duplicate rows with the same score (by {', '.join(key)})",
           df[extra], "kept one", cols=(*key, "score"))
    _issue(issues, file, f"duplicate rows with conflicting scores (by {', '.join(key)})",
           df[conflict], "all excluded", cols=(*key, "score"))
    return df[~extra & ~conflict]


def _match_criteria_case(judgments: pd.DataFrame, labels: pd.DataFrame, file: str,
                         issues: list[Issue]) -> pd.DataFrame:
    """Label criteria that match a judged criterion only up to case are renamed to it (and
    reported), instead of silently matching nothing."""
    judged = set(judgments["criterion"])
    fold: dict[str, set[str]] = {}
    for c in judged:
        fold.setdefault(c.casefold(), set()).add(c)
    rename = {c: next(iter(fold[c.casefold()])) for c in set(labels["criterion"])
              if c not in judged and len(fold.get(c.casefold(), ())) == 1}
    if rename:
        hit = labels["criterion"].isin(rename)
        _issue(issues, file, "labels whose criterion matches a judged one only up to case "
                             f"({', '.join(f'{k!r}->{v!r}' for k, v in sorted(rename.items()))})",
               labels[hit], "matched case-insensitively", cols=("item_id", "criterion"))
        labels = labels.assign(criterion=labels["criterion"].replace(rename))
    return labels


def validate_inputs(judgments: pd.DataFrame, labels: pd.DataFrame,
                    scale: ScaleSpec | Mapping[str, ScaleSpec] | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, ScaleSpec], list[Issue]]:
    """Normalise scores to each criterion's scale and report every excluded row.

    Returns ``(judgments, labels, scales, issues)``. Excluded: missing or out-of-scale
    scores, conflicting duplicates, labels whose (item, criterion) has no judgment.
    """
    judgments, labels = judgments.copy(), labels.copy()
    for df, name in ((judgments, "judgments"), (labels, "labels")):
        if SOURCE not in df.columns:
            df[SOURCE] = name
        if LINE not in df.columns:
            df[LINE] = range(1, len(df) + 1)
    jfile = str(judgments[SOURCE].iloc[0]) if len(judgments) else "judgments"
    lfile = str(labels[SOURCE].iloc[0]) if len(labels) else "labels"
    _require(judgments, JUDGMENT_FIELDS, jfile)
    _require(labels, LABEL_FIELDS, lfile)
    if "cluster" not in judgments.columns:
        judgments["cluster"] = judgments["item_id"]
    judgments["cluster"] = judgments["cluster"].fillna(judgments["item_id"]).astype(str)
    issues: list[Issue] = []
    for name, cols, file in (("judgments", ("item_id", "judge", "criterion"), jfile),
                             ("labels", ("item_id", "rater", "criterion"), lfile)):
        df = judgments if name == "judgments" else labels
        for c in cols:
            df[c] = _as_str(df[c])
        gone = df[list(cols)].isna().any(axis=1)
        _issue(issues, file, f"rows missing {'/'.join(cols)}", df[gone], "excluded",
               cols=cols)
        groups = [c for c in df.columns if c.startswith("group.")]
        nogroup = df[groups].isna().any(axis=1) if groups else pd.Series(False, index=df.index)
        _issue(issues, file, "rows with a missing group value (a missing value is never a "
                             "group level)", df[nogroup & ~gone],
               "kept: left out of that attribute's comparisons only",
               cols=("item_id", *groups))
        if name == "judgments":
            judgments = df[~gone].copy()
        else:
            labels = df[~gone].copy()
    labels = _match_criteria_case(judgments, labels, lfile, issues)
    scales, inferred = resolve_scales(judgments, labels, scale)
    issues += scale_issues(judgments, labels, scales, inferred, jfile)
    j = _dedupe(_normalize(judgments, scales, jfile, issues), ["item_id", "judge", "criterion"],
                jfile, issues)
    h = _normalize(labels, scales, lfile, issues)
    known = set(zip(j["item_id"], j["criterion"], strict=True))
    unknown = pd.Series([k not in known for k in zip(h["item_id"], h["criterion"],
                                                     strict=True)], index=h.index, dtype=bool)
    _issue(issues, lfile, "labels for unknown item ids (no judgment on that criterion)",
           h[unknown], "excluded", cols=("item_id", "criterion"))
    h = _dedupe(h[~unknown], ["item_id", "rater", "criterion"], lfile, issues)
    return j, h, scales, issues


def from_run_frames(judgments: pd.DataFrame, human_labels: pd.DataFrame
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A run's joined frames (``judge.load(run_dir)``) -> the standalone long shape.

    Keeps plain pointwise judgments (parse ok, no probe, repeat 0); ``item_id`` is the
    generation id, ``cluster`` the counterfactual group, ``group.<a>`` each ``attr.<a>``,
    one row per ``score.<rubric>.<criterion>`` with criterion ``<rubric>.<criterion>``.
    Labels: ``target_id`` becomes ``item_id``; a label's criterion is qualified by its
    ``rubric_id`` (as the run's calibration stage does) when it has one.
    """
    j = judgments
    for col, keep in (("parse_status", "ok"), ("judge_mode", "pointwise"), ("repeat", 0)):
        if col in j:
            j = j[j[col] == keep]
    if "probe" in j:
        j = j[j["probe"].isna()]
    attrs = {c: "group." + c.removeprefix(ATTR_PREFIX) for c in j.columns
             if c.startswith(ATTR_PREFIX)}
    base = j.rename(columns={"generation_id": "item_id", "cf_group": "cluster", **attrs})
    long = base.melt(id_vars=["item_id", "judge", "cluster", *attrs.values()],
                     value_vars=score_columns(j), var_name="criterion",
                     value_name="score")
    long["criterion"] = long["criterion"].str.removeprefix(SCORE_PREFIX)
    long = long[long["score"].notna()].reset_index(drop=True)
    h = human_labels.rename(columns={"target_id": "item_id"})
    if "rubric_id" in h and "criterion" in h:
        qualify = h["rubric_id"].notna()
        h = h.assign(criterion=h["criterion"].where(
            ~qualify, h["rubric_id"].astype(str) + "." + h["criterion"].astype(str)))
    h = h[[c for c in ("item_id", "rater", "criterion", "score") if c in h.columns]]
    return long, h.reset_index(drop=True)
