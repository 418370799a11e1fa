"""Reference levels and missing attribute values: one rule for every stage.

A comparison "level vs reference" is only meaningful when the reference is a level the
data actually has. :func:`choose_reference` picks, per attribute:

1. the configured level (``report.reference``), if it occurs in the data;
2. else the conventional one (:data:`DEFAULT_REFERENCE`: race White, gender male, dialect
   SAE, religion Christian, disability none), if it occurs;
3. else the most frequent level (ties: the first in sort order).

A missing attribute value (NaN/None, the empty string or the placeholder ``"(missing)"``)
is never a level and never a reference: an item without the attribute belongs to a
different scenario mix, not to a group. :func:`drop_missing_rows` removes such rows from
the tables the calibration writes and says how many there were.

There is deliberately no conventional age level: age bands differ between scenarios
("18-29", "30", "65+"), so age uses the configured level or the most frequent one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from judge.config import CONVENTIONAL_REFERENCE

DEFAULT_REFERENCE: dict[str, str] = CONVENTIONAL_REFERENCE
MISSING_LABELS = frozenset({"", "(missing)", "nan", "NaN", "None", "<NA>"})

SOURCE_CONFIGURED = "configured"
SOURCE_CONVENTIONAL = "conventional"
SOURCE_MOST_FREQUENT = "most frequent"


@dataclass(frozen=True)
class Reference:
    """The chosen reference of one attribute and why it was chosen."""

    attribute: str
    level: str
    source: str
    note: str | None = None


def is_missing(values: Iterable) -> np.ndarray:
    """True where an attribute value is missing (NaN/None, "", "(missing)").

    >>> is_missing(pd.Series(["White", None, "(missing)", "", "none"])).tolist()
    [False, True, True, True, False]
    """
    return np.array([_missing(v) for v in values], dtype=bool)


def _missing(v) -> bool:
    if isinstance(v, str):
        return v.strip() in MISSING_LABELS
    return v is None or bool(pd.isna(v)) if np.ndim(v) == 0 else False


def present_levels(values: Iterable) -> pd.Series:
    """Counts of the non-missing levels, as strings, most frequent first (ties sorted)."""
    s = pd.Series(list(values), dtype=object)
    s = s[~is_missing(s)].astype(str)
    counts = s.value_counts()
    if counts.empty:
        return counts
    order = sorted(counts.index, key=lambda lv: (-int(counts[lv]), lv))
    return counts.reindex(order)


def choose_reference(values: Iterable, attribute: str,
                     configured: Mapping[str, str] | str | None = None) -> Reference | None:
    """The reference level of ``attribute`` among ``values`` (None if all are missing).

    >>> choose_reference(["Black", "White", "Black"], "race").level
    'White'
    >>> choose_reference(["18-29", "50-64", "50-64"], "age", {"age": "30"})
    Reference(attribute='age', level='50-64', source='most frequent', note="configured reference '30' does not occur")
    """
    counts = present_levels(values)
    if counts.empty:
        return None
    want = configured.get(attribute) if isinstance(configured, Mapping) else configured
    note = None
    if want is not None:
        if str(want) in counts.index:
            return Reference(attribute, str(want), SOURCE_CONFIGURED)
        note = f"configured reference {str(want)!r} does not occur"
    conv = DEFAULT_REFERENCE.get(attribute)
    if conv is not None and conv in counts.index:
        return Reference(attribute, conv, SOURCE_CONVENTIONAL, note)
    return Reference(attribute, str(counts.index[0]), SOURCE_MOST_FREQUENT, note)


def attribute_columns(frame: pd.DataFrame, prefix: str = "attr.") -> dict[str, str]:
    """``{attribute: column}`` for the columns named ``<prefix><attribute>``."""
    return {c[len(prefix):]: c for c in frame.columns if str(c).startswith(prefix)}


def references(frame: pd.DataFrame, configured: Mapping[str, str] | None = None,
               prefix: str = "attr.") -> dict[str, Reference]:
    """:func:`choose_reference` for every ``<prefix>*`` column with a non-missing value."""
    out = {}
    for a, col in attribute_columns(frame, prefix).items():
        r = choose_reference(frame[col], a, configured or {})
        if r is not None:
            out[a] = r
    return out


def reference_levels(frame: pd.DataFrame, configured: Mapping[str, str] | None = None,
                     prefix: str = "attr.") -> dict[str, str]:
    """``{attribute: reference level}`` for every ``<prefix>*`` column (see module doc).

    >>> df = pd.DataFrame({"attr.race": ["Black", "White"], "attr.age": ["18-29", None]})
    >>> reference_levels(df, {"age": "30"})
    {'race': 'White', 'age': '18-29'}
    """
    return {a: r.level for a, r in references(frame, configured, prefix).items()}


def missing_counts(frame: pd.DataFrame, prefix: str = "attr.") -> dict[str, int]:
    """Rows lacking each attribute (only attributes with at least one such row)."""
    out = {}
    for a, col in attribute_columns(frame, prefix).items():
        k = int(is_missing(frame[col]).sum())
        if k:
            out[a] = k
    return out


def missing_note(counts: Mapping[str, int], unit: str = "rows") -> str | None:
    """One sentence for a report: which attributes some rows lack, and how many.

    >>> print(missing_note({"gender": 12}))
    Rows lacking an attribute are left out of that attribute's comparisons (gender: 12 rows).
    """
    if not counts:
        return None
    parts = ", ".join(f"{a}: {n} {unit}" for a, n in sorted(counts.items()))
    return f"Rows lacking an attribute are left out of that attribute's comparisons ({parts})."


def drop_missing_rows(rows: list[dict], columns: Iterable[str] = ("group", "reference", "level")
                      ) -> tuple[list[dict], int]:
    """Rows of a table whose group, reference or level is a missing value, removed.

    Returns ``(kept, n_dropped)``. Rows summarising all groups (``group`` ``"all"``/``"*"``)
    are kept.
    """
    cols = list(columns)
    kept = []
    for r in rows:
        bad = any(c in r and r[c] is not None and str(r[c]).strip() in MISSING_LABELS - {""}
                  for c in cols)
        if not bad:
            kept.append(r)
    return kept, len(rows) - len(kept)
