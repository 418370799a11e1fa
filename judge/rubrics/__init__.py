"""Versioned fairness rubrics: load, lint, lock, render judge prompts, parse judge answers.

See rubrics/README.md for the file format and the authoring workflow.
"""

from judge.rubrics._diff import diff_rubrics, normalised_yaml
from judge.rubrics._lint import lint_paths
from judge.rubrics._load import (
    list_rubrics,
    load_rubric,
    load_rubric_file,
    versions_of,
)
from judge.rubrics._lock import load_rubrics, lock_status, read_lock, write_lock
from judge.rubrics._model import (
                                  FRAMEWORKS,
                                  BinaryScale,
                                  CategoricalScale,
                                  Criterion,
                                  LikertScale,
                                  PromptSpec,
                                  Rubric,
)
from judge.rubrics._parse import ParseResult, is_refusal, parse_judge_output, repair_messages
from judge.rubrics._schema import (
    MODES,
    OutputField,
    output_fields,
    response_labels,
    restore_order,
)
from judge.rubrics._validate import LintError

__all__ = [
    "FRAMEWORKS", "MODES", "BinaryScale", "CategoricalScale", "Criterion", "LikertScale",
    "LintError", "OutputField", "ParseResult", "PromptSpec", "Rubric", "diff_rubrics",
    "is_refusal", "lint_paths", "lock_status", "list_rubrics", "load_rubric",
    "load_rubrics", "load_rubric_file",
    "normalised_yaml", "output_fields", "parse_judge_output", "read_lock", "repair_messages",
    "response_labels", "restore_order", "versions_of", "write_lock",
]
