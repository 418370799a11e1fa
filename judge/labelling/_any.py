"""Human labels from any file a rater or labelling tool hands back."""

from __future__ import annotations

from pathlib import Path

from judge.labelling._io import (
    _is_sheet_csv,
    answers_to_labels,
    is_answers_file,
    read_answers,
    read_filled_csv,
    read_key,
    read_manifest,
)
from judge.labelling._label_studio import import_label_studio
from judge.labelling._model import Answer
from judge.labels import read_human_labels
from judge.records import HumanLabel


def read_any_labels(path: str | Path, key_dir: str | Path | None = None
                    ) -> tuple[list[Answer] | None, list[HumanLabel]]:
    """(answers or None, labels) from a labels JSONL of answers, a filled sheet CSV, a
    Label Studio JSON export (these three need the sheet directory ``key_dir``, default:
    the file's directory) or HumanLabel JSONL/CSV."""
    p = Path(path)
    key_dir = Path(key_dir) if key_dir is not None else p.parent
    if p.suffix == ".json":
        answers = import_label_studio(p, read_manifest(key_dir), read_key(key_dir))
    elif p.suffix == ".csv" and _is_sheet_csv(p):
        answers = read_filled_csv(p, read_manifest(key_dir))
    elif is_answers_file(p):
        answers = read_answers(p)
    else:
        return None, list(read_human_labels(p))
    return answers, answers_to_labels(answers, read_key(key_dir))
