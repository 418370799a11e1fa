"""Blind human labelling: sheets raters cannot be anchored by, a local labelling page,
a Label Studio round-trip and reliability checks before labels are used.

See docs/LABELLING.md. Raters see :class:`SheetRow` fields only (no judge score, rationale,
stratum, inclusion probability or group); the key (:class:`KeyRow`) maps row ids back.
"""

from judge.labelling._any import read_any_labels
from judge.labelling._io import (
    AnswerLog,
    answers_to_labels,
    is_answers_file,
    latest_answers,
    neutralise,
    read_answers,
    read_filled_csv,
    read_key,
    read_manifest,
    read_sheet,
    specs_by_rubric,
    write_sheets,
)
from judge.labelling._items import criterion_spec, inferred_spec, items_from_frame, rubric_specs
from judge.labelling._label_studio import export_label_studio, import_label_studio, project_config
from judge.labelling._model import Answer, CriterionSpec, KeyRow, SheetManifest, SheetRow
from judge.labelling._reliability import ReliabilityReport, check_reliability, format_report
from judge.labelling._sheet import LabelItem, Sheets, assign_raters, build_sheets, interleave
from judge.labelling._study import default_raters, labelling_hint, write_study

__all__ = [
    "Answer",
    "AnswerLog",
    "CriterionSpec",
    "KeyRow",
    "LabelItem",
    "ReliabilityReport",
    "SheetManifest",
    "SheetRow",
    "Sheets",
    "answers_to_labels",
    "assign_raters",
    "build_sheets",
    "check_reliability",
    "criterion_spec",
    "default_raters",
    "export_label_studio",
    "format_report",
    "import_label_studio",
    "inferred_spec",
    "interleave",
    "labelling_hint",
    "items_from_frame",
    "latest_answers",
    "neutralise",
    "project_config",
    "is_answers_file",
    "read_answers",
    "read_any_labels",
    "read_filled_csv",
    "read_key",
    "read_manifest",
    "read_sheet",
    "rubric_specs",
    "specs_by_rubric",
    "write_sheets",
    "write_study",
]
