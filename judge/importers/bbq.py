"""BBQ (Parrish et al. 2022): multiple-choice questions probing social bias, with gold labels.

Upstream: github.com/nyu-mll/BBQ, ``data/<Category>.jsonl`` (CC-BY-4.0). Each item has a
context (ambiguous, or disambiguated by a further sentence), a question (negative or
non-negative polarity), three answers (two people and an "unknown" option) and the gold
``label``. Items of one template (``question_index``), polarity and context condition form one
counterfactual group: they differ only in which groups the people belong to. A query's
attributes are those of the stereotyped (target) person; the other person's group and the
exact wording of both are kept in ``meta``. Intersectional
categories (Race_x_gender, Race_x_SES) label groups like ``F-Black`` or ``lowSES-M-Latino``;
these are split into separate attributes.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from judge.errors import DataError
from judge.importers._common import iter_jsonl, require
from judge.records import Query

VERSION = "2022"
CATEGORIES = ("Age", "Disability_status", "Gender_identity", "Nationality",
              "Physical_appearance", "Race_ethnicity", "Race_x_SES", "Race_x_gender",
              "Religion", "SES", "Sexual_orientation")
URLS = {f"{c}.jsonl": f"https://raw.githubusercontent.com/nyu-mll/BBQ/main/data/{c}.jsonl"
        for c in CATEGORIES}
AXIS = {"Age": "age", "Disability_status": "disability", "Gender_identity": "gender",
        "Nationality": "nationality", "Physical_appearance": "appearance",
        "Race_ethnicity": "race", "Race_x_SES": "race", "Race_x_gender": "race",
        "Religion": "religion", "SES": "ses", "Sexual_orientation": "sexual_orientation"}
LETTERS = "ABC"
INSTRUCTION = "Answer with the letter of the correct option (A, B or C)."
FIELDS = ("example_id", "question_index", "question_polarity", "context_condition",
          "category", "answer_info", "context", "question", "ans0", "ans1", "ans2", "label")
_PREFIX = {"F": ("gender", "female"), "M": ("gender", "male"), "lowSES": ("ses", "low"),
           "highSES": ("ses", "high")}


def split_group(label: str, axis: str) -> dict[str, str]:
    """Attributes of a BBQ group label.

    >>> split_group("lowSES-F-Black", "race")
    {'ses': 'low', 'gender': 'female', 'race': 'Black'}
    >>> split_group("Muslim", "religion")
    {'religion': 'Muslim'}
    """
    out: dict[str, str] = {}
    rest = label
    while "-" in rest and rest.split("-", 1)[0] in _PREFIX:
        head, rest = rest.split("-", 1)
        k, v = _PREFIX[head]
        out[k] = v
    if rest:
        out[axis] = rest
    return out


META_FILE = "additional_metadata.csv"


def _people(row: dict[str, Any], axis: str) -> tuple[list[tuple[int, str, dict]], int | None]:
    """The two people (answer index, group label, attributes) and the 'unknown' index."""
    info = row["answer_info"]
    people, unknown = [], None
    for i in range(3):
        label = str(info[f"ans{i}"][1])
        if label == "unknown":
            unknown = i
        else:
            people.append((i, label, split_group(label, axis)))
    return people, unknown


def _stereotyped(label: str, attrs: dict[str, str], stereo: list[str], axis: str) -> bool:
    """Whether a person's group is one of ``stereotyped_groups``: the whole label, or every
    attribute a stereotyped entry names (``"Black"`` names only the race; upstream
    Race_x_gender rows list races only, their gender target is in the templates)."""
    if label.lower() in {s.lower() for s in stereo}:
        return True
    for s in stereo:
        want = split_group(s, axis)
        if want and all(str(attrs.get(k, "")).lower() == v.lower() for k, v in want.items()):
            return True
    return False


def _var2_value(var2: str | list[str] | None) -> dict[str, str]:
    """A template's second stereotyped variable(s) (``F``, ``M``, ``lowSES``...) as
    attribute constraints.

    >>> _var2_value(["lowSES", "M"])
    {'ses': 'low', 'gender': 'male'}
    """
    out: dict[str, str] = {}
    for v in ([var2] if isinstance(var2, str) else list(var2 or [])):
        v = str(v).strip().strip('"[]\'')
        kv = _PREFIX.get(v) or {"woman": ("gender", "female"), "man": ("gender", "male")}.get(
            v.lower())
        if kv:
            out[kv[0]] = kv[1]
    return out


def _target(row: dict[str, Any], axis: str, var2: str | list[str] | None = None,
            target_loc: int | None = None) -> tuple[int | None, str]:
    """Answer index of the stereotyped person and how it was found.

    A person is a candidate when their group matches ``stereotyped_groups``. When both
    people match (Race_x_gender rows where both share the stereotyped race), the template's
    second variable decides (``var2``: the gender or SES target, from the dataset's
    metadata or inferred from the template's other rows); the metadata's ``target_loc``
    settles what remains. ``(None, "ambiguous")`` when nothing does: no guess is made.
    """
    people, _ = _people(row, axis)
    stereo = list(row.get("additional_metadata", {}).get("stereotyped_groups", []) or [])
    cands = [i for i, label, attrs in people if _stereotyped(label, attrs, stereo, axis)]
    if len(cands) == 1:
        return cands[0], "stereotyped_groups"
    want = _var2_value(var2)
    if len(cands) > 1 and want:
        by_var2 = [i for i, _, attrs in people
                   if i in cands and all(attrs.get(k) == v for k, v in want.items())]
        if len(by_var2) == 1:
            return by_var2[0], "stereotyped_groups + template target " + "/".join(
                want.values())
    if target_loc is not None and target_loc in [i for i, _, _ in people] and (
            not cands or target_loc in cands):
        return target_loc, "metadata target_loc"
    if not cands and people:
        return people[0][0], "no stereotyped group named: first person"
    return None, "ambiguous"


def read_metadata(folder: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """BBQ's own ``additional_metadata.csv`` (upstream ``supplemental/``), when present next
    to the data or in a ``supplemental`` folder: ``(category, example_id) ->
    {target_loc, var2}``. Empty when absent."""
    for p in (folder / META_FILE, folder / "supplemental" / META_FILE,
              folder.parent / "supplemental" / META_FILE):
        if p.exists():
            out = {}
            with open(p, newline="", encoding="utf-8") as fh:
                for r in csv.DictReader(fh):
                    loc = str(r.get("target_loc", "")).strip()
                    out[(str(r["category"]), int(r["example_id"]))] = {
                        "target_loc": int(loc) if loc.isdigit() else None,
                        "var2": (r.get("Known_stereotyped_var2") or "").strip() or None}
            return out
    return {}


def infer_var2(rows: list[dict[str, Any]], axis: str) -> dict[tuple[str, str], list[str]]:
    """Per (category, question_index), the second stereotyped variable(s) of intersectional
    templates, read off the rows where only one person has the stereotyped race (there
    the target is certain): the label prefixes (``M``, ``lowSES``) shared by all of them.
    """
    seen: dict[tuple[str, str], dict[str, set[str]]] = {}
    for row in rows:
        people, _ = _people(row, axis)
        stereo = list(row.get("additional_metadata", {}).get("stereotyped_groups", []) or [])
        cands = [label for _, label, attrs in people if _stereotyped(label, attrs, stereo, axis)]
        if len(cands) != 1:
            continue
        key = (str(row["category"]), str(row["question_index"]))
        per = seen.setdefault(key, {})
        heads = [h for h in cands[0].split("-")[:-1] if h in _PREFIX]
        for h in heads:
            per.setdefault(_PREFIX[h][0], set()).add(h)
        for attr in [a for a in per if a not in {_PREFIX[h][0] for h in heads}]:
            per[attr].add("")  # a target without this prefix: not constant
    return {k: sorted(next(iter(v)) for v in per.values() if len(v) == 1 and "" not in v)
            for k, per in seen.items()}


def read_bbq(path: Path, *, instruction: str = INSTRUCTION) -> Iterator[Query]:
    """Queries from one BBQ category file, or every ``*.jsonl[.gz]`` in a directory."""
    files = sorted([*path.glob("*.jsonl"), *path.glob("*.jsonl.gz")]) if path.is_dir() else [path]
    if not files:
        raise DataError("no BBQ *.jsonl files in this directory", path=path)
    for f in files:
        yield from _read_file(f, instruction)


def _read_file(path: Path, instruction: str) -> Iterator[Query]:
    rows = []
    for line, row in iter_jsonl(path):
        require(row, FIELDS, path, line)
        rows.append((line, row))
    meta = read_metadata(path.parent)
    inferred = {}
    for cat in {str(r["category"]) for _, r in rows if "_x_" in str(r["category"])}:
        inferred.update(infer_var2([r for _, r in rows if str(r["category"]) == cat],
                                   AXIS.get(cat, cat.lower())))
    for line, row in rows:
        yield _query(row, path, line, instruction, meta, inferred)


def _query(row: dict[str, Any], path: Path, line: int, instruction: str,
           meta: dict, inferred: dict) -> Query:
    cat = str(row["category"])
    axis = AXIS.get(cat, cat.lower())
    people, unknown = _people(row, axis)
    if len(people) != 2 or unknown is None:
        raise DataError("answer_info needs two groups and an 'unknown' answer", path=path,
                        line=line)
    m = meta.get((cat, int(row["example_id"])), {})
    var2 = m.get("var2") or inferred.get((cat, str(row["question_index"])))
    target, source = _target(row, axis, var2, m.get("target_loc"))
    if m.get("target_loc") is not None and target is not None and target != m["target_loc"]:
        source += f"; metadata target_loc {m['target_loc']} disagrees"
    info = row["answer_info"]
    if target is None:  # both people fit the stereotype: keep only what they share
        a, b = people[0][2], people[1][2]
        attrs = {k: v for k, v in a.items() if b.get(k) == v}
        other = None
    else:
        attrs = next(x for i, _, x in people if i == target)
        other = next(i for i, _, _ in people if i != target)
    tid = f"{cat}/{row['question_index']}"
    fills = {"polarity": str(row["question_polarity"]),
             "condition": str(row["context_condition"])}
    label = int(row["label"])
    options = "\n".join(f"{LETTERS[i]}. {row[f'ans{i}']}" for i in range(3))
    return Query(
        query_id=Query.make_id("bbq", VERSION, tid, fills, attrs, int(row["example_id"])),
        cf_group=Query.make_cf_group("bbq", VERSION, tid, fills),
        scenario_id="bbq", scenario_version=VERSION, context="general", template_id=tid,
        text=f"{row['context']}\n\n{row['question']}\n{options}\n\n{instruction}",
        attributes=attrs, expression={a: "explicit" for a in attrs},
        swapped=sorted(attrs), fills=fills, source="bbq",
        ground_truth={"label": label, "answer": LETTERS[label],
                      "unknown": LETTERS[unknown],
                      "ambiguous": row["context_condition"] == "ambig"},
        meta={"example_id": int(row["example_id"]), "category": cat,
              "target": LETTERS[target] if target is not None else None,
              "target_source": source,
              "target_term": str(info[f"ans{target}"][0]) if target is not None else None,
              "other_group": str(info[f"ans{other}"][1]) if other is not None else None,
              "other_term": str(info[f"ans{other}"][0]) if other is not None else None,
              "stereotyped_groups": row.get("additional_metadata", {})
              .get("stereotyped_groups", []),
              "subcategory": row.get("additional_metadata", {}).get("subcategory")})
