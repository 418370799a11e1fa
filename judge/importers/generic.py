"""A researcher's own prompts from CSV/TSV/JSONL, with a column mapping.

Defaults: the prompt is in ``text``; ``cf_group`` (if present) groups counterfactual rows;
attribute columns are ``group.<attribute>`` or ``attr.<attribute>`` (the same convention as
standalone calibration files) or a JSON object ``attributes``; ground-truth columns are
``gt.<key>``. Two passes over the file find which attributes vary within each group.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from judge.errors import DataError
from judge.importers._common import iter_rows
from judge.records import Query

VERSION = "1"


class ColumnMapping(BaseModel):
    """Which column holds what. Unset attribute/ground-truth maps use the prefix convention."""

    model_config = ConfigDict(extra="forbid")
    text: str = "text"
    group: str | None = Field("cf_group", description="Counterfactual group column, if any.")
    id: str | None = Field(None, description="Source row id column (kept in meta).")
    system: str | None = None
    context: str = Field("general", description="Use case of every row.")
    context_column: str | None = None
    scenario_id: str | None = Field(None, description="Default: the file name stem.")
    attributes: dict[str, str] | None = Field(None, description="attribute -> column.")
    expression: str = Field("explicit", description="How the prompts express attributes.")
    ground_truth: dict[str, str] | None = Field(None, description="key -> column.")


def _attrs(row: dict[str, Any], m: ColumnMapping) -> dict[str, str]:
    if m.attributes is not None:
        return {a: str(row[c]) for a, c in m.attributes.items() if row.get(c) not in (None, "")}
    out = {k.split(".", 1)[1]: str(v) for k, v in row.items()
           if k.startswith(("group.", "attr.")) and v not in (None, "")}
    if isinstance(row.get("attributes"), dict):
        out.update({k: str(v) for k, v in row["attributes"].items()})
    return out


def _truth(row: dict[str, Any], m: ColumnMapping) -> dict[str, Any]:
    if m.ground_truth is not None:
        return {k: row[c] for k, c in m.ground_truth.items() if c in row}
    return {k[3:]: v for k, v in row.items() if k.startswith("gt.") and v not in (None, "")}


def _parsed(path: Path, m: ColumnMapping) -> Iterator[tuple[int, dict[str, Any], str, dict]]:
    for line, row in iter_rows(path):
        if m.text not in row or row[m.text] in (None, ""):
            raise DataError(f"missing text column {m.text!r}", path=path, line=line,
                            hint="map it with --map text=COLUMN")
        group = str(row.get(m.group) or "") if m.group else ""
        yield line, row, group, _attrs(row, m)


def read_generic(path: Path, mapping: ColumnMapping | None = None) -> Iterator[Query]:
    """Queries from a CSV/TSV/JSONL file of prompts."""
    m = mapping or ColumnMapping()
    sid = m.scenario_id or path.name.split(".")[0]
    values: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for _, _, group, attrs in _parsed(path, m):
        for a, v in attrs.items() if group else ():
            values[group][a].add(v)
    seen: dict[str, int] = {}
    for line, row, group, attrs in _parsed(path, m):
        text = str(row[m.text])
        fills = {"group": group}
        if group:
            swapped = sorted(a for a, vs in values[group].items() if len(vs) > 1)
            cf = Query.make_cf_group(sid, VERSION, "row", fills)
        else:   # no group column: every row is a group of its own
            swapped, cf = [], Query.make_cf_group(sid, VERSION, "row", fills, [text, attrs])
        qid = Query.make_id(sid, VERSION, "row", fills, attrs, text)
        if qid in seen:
            raise DataError(f"duplicate row (same text, group and attributes as line "
                            f"{seen[qid]})", path=path, line=line)
        seen[qid] = line
        yield Query(
            query_id=qid, cf_group=cf,
            scenario_id=sid, scenario_version=VERSION,
            context=str(row[m.context_column]) if m.context_column else m.context,
            template_id="row", text=text,
            system=str(row[m.system]) if m.system and row.get(m.system) else None,
            attributes=attrs, expression={a: m.expression for a in attrs}, swapped=swapped,
            fills=fills, ground_truth=_truth(row, m), source="csv",
            meta={"line": line, **({"source_id": row.get(m.id)} if m.id else {})})
