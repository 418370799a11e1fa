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


def _target(row: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    """Answer indices of the stereotyped group, the other group and 'unknown'."""
    info = row["answer_info"]
    stereo = set(row.get("additional_metadata", {}).get("stereotyped_groups", []))
    unknown, target, people = None, None, []
    for i in range(3):
        label = str(info[f"ans{i}"][1])
        if label == "unknown":
            unknown = i
            continue
        people.append(i)
        if target is None and (set(label.split("-")) | {label}) & stereo:
            target = i
    target = people[0] if target is None and people else target
    other = next((i for i in people if i != target), None)
    return target, other, unknown


def read_bbq(path: Path, *, instruction: str = INSTRUCTION) -> Iterator[Query]:
    """Queries from one BBQ category file, or every ``*.jsonl[.gz]`` in a directory."""
    files = sorted([*path.glob("*.jsonl"), *path.glob("*.jsonl.gz")]) if path.is_dir() else [path]
    if not files:
        raise DataError("no BBQ *.jsonl files in this directory", path=path)
    for f in files:
        yield from _read_file(f, instruction)


def _read_file(path: Path, instruction: str) -> Iterator[Query]:
    for line, row in iter_jsonl(path):
        require(row, FIELDS, path, line)
        cat = str(row["category"])
        axis = AXIS.get(cat, cat.lower())
        target, other, unknown = _target(row)
        if target is None or other is None or unknown is None:
            raise DataError("answer_info needs two groups and an 'unknown' answer", path=path,
                            line=line)
        info = row["answer_info"]
        attrs = split_group(str(info[f"ans{target}"][1]), axis)
        tid = f"{cat}/{row['question_index']}"
        fills = {"polarity": str(row["question_polarity"]),
                 "condition": str(row["context_condition"])}
        label = int(row["label"])
        options = "\n".join(f"{LETTERS[i]}. {row[f'ans{i}']}" for i in range(3))
        yield Query(
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
                  "target": LETTERS[target], "target_term": str(info[f"ans{target}"][0]),
                  "other_group": str(info[f"ans{other}"][1]),
                  "other_term": str(info[f"ans{other}"][0]),
                  "stereotyped_groups": row.get("additional_metadata", {})
                  .get("stereotyped_groups", []),
                  "subcategory": row.get("additional_metadata", {}).get("subcategory")})
