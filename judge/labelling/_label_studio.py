"""Label Studio round-trip: a project config and tasks for a sheet, and its JSON export
back to answers (through :func:`judge.calibration.read_label_studio`).

Tasks carry only rater-facing fields (``row_id``, ``query``, ``response``); the key stays
with you. Each criterion is a ``<Choices>`` control named after the criterion, one
``<Choice>`` per scale value with its anchor as the hint. Every text placed in the XML is
escaped; item text travels as task data, which Label Studio's ``<Text>`` tag shows as text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

from judge.calibration import read_label_studio
from judge.errors import DataError
from judge.labelling._io import specs_by_rubric
from judge.labelling._model import Answer, CriterionSpec, SheetRow
from judge.records import now_iso

QUERY, RESPONSE = "query", "response"


def project_config(criteria: Sequence[CriterionSpec], *, title: str = "",
                   instructions: str = "") -> str:
    """The labelling config XML for one rubric's criteria."""
    parts = ["<View>"]
    if title:
        parts.append(f"  <Header value={quoteattr(title)}/>")
    if instructions:
        parts.append(f"  <View><Text name=\"instructions\" value={quoteattr(instructions)}/>"
                     "</View>")
    parts += ["  <Header value=\"Query\"/>",
              f"  <Text name=\"{QUERY}\" value=\"${QUERY}\"/>",
              "  <Header value=\"Response\"/>",
              f"  <Text name=\"{RESPONSE}\" value=\"${RESPONSE}\"/>"]
    for c in criteria:
        parts.append(f"  <Header value={quoteattr(c.question or c.id)}/>")
        parts.append(f"  <Choices name={quoteattr(c.id)} toName=\"{RESPONSE}\" "
                     "choice=\"single-radio\" showInline=\"true\" required=\"true\">")
        for v in c.values():
            hint = c.anchors.get(str(v), "")
            attr = f" hint={quoteattr(hint)}" if hint else ""
            parts.append(f"    <Choice value={quoteattr(str(v))}{attr}/>")
        parts.append("  </Choices>")
    parts.append("</View>")
    return "\n".join(parts) + "\n"


def export_label_studio(rows: Sequence[SheetRow], out_dir: str | Path) -> dict[str, Path]:
    """``<rubric>.config.xml`` and ``<rubric>.tasks.json`` per rubric, for a sheet's rows
    (each row once, however many raters' copies hold it)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_rubric: dict[str, dict[str, SheetRow]] = {}
    for r in rows:
        by_rubric.setdefault(r.rubric, {}).setdefault(r.row_id, r)
    paths = {}
    for rubric, got in sorted(by_rubric.items()):
        first = next(iter(got.values()))
        name = rubric or "sheet"
        cfg = out / f"{name}.config.xml"
        cfg.write_text(project_config(first.criteria, title=rubric,
                                      instructions=first.instructions), encoding="utf-8")
        tasks = [{"data": {"row_id": r.row_id, QUERY: r.query, RESPONSE: r.response}}
                 for r in sorted(got.values(), key=lambda r: r.row_id)]
        tp = out / f"{name}.tasks.json"
        tp.write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
        paths[f"config:{name}"], paths[f"tasks:{name}"] = cfg, tp
    return paths


def import_label_studio(path: str | Path, manifest, key) -> list[Answer]:
    """Answers from a Label Studio JSON export of tasks made by :func:`export_label_studio`
    (cancelled annotations are left out by the importer; values checked against the scale)."""
    df = read_label_studio(path, item_field="row_id")
    specs = specs_by_rubric(manifest)
    merged: dict[tuple[str, str], dict] = {}
    for rec in df.to_dict("records"):
        row_id, crit = rec["item_id"], rec["criterion"]
        k = key.get(row_id)
        if k is None:
            raise DataError(f"task row_id {row_id!r} is not in the key", path=path,
                            hint="import with the key of the sheet these tasks came from")
        spec = specs.get(k.rubric_id or "", {}).get(crit)
        if spec is None:
            raise DataError(f"control {crit!r} is not a criterion of {k.rubric_id!r}",
                            path=path, line=rec.get("_line"))
        try:
            val = spec.parse(rec["score"])
        except ValueError as err:
            raise DataError(str(err), path=path, line=rec.get("_line")) from err
        merged.setdefault((rec["rater"], row_id), {})[crit] = val
    stamp = now_iso("milliseconds")
    return [Answer(row_id=row_id, rater=rater, scores=scores, answered_at=stamp,
                   source="label_studio", sheet=manifest.sheet_id)
            for (rater, row_id), scores in sorted(merged.items())]
