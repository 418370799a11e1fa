"""Calibrate LLM judges against human labels (standalone or inside a run).

>>> from judge.calibration import ScaleSpec
>>> ScaleSpec.parse("likert:1-5").label_set()
[1, 2, 3, 4, 5]
"""

from judge.calibration.core import (
    SECTIONS,
    CalibrationResult,
    calibrate_files,
    calibrate_frames,
    write_result,
)
from judge.calibration.coverage import coverage_study, format_coverage, simulate_basic
from judge.calibration.io import (
    Issue,
    from_run_frames,
    read_judgments,
    read_label_studio,
    read_labels,
    read_table,
    validate_inputs,
)
from judge.calibration.scale import ScaleSpec, infer_scale

__all__ = [
    "SECTIONS",
    "CalibrationResult",
    "Issue",
    "ScaleSpec",
    "calibrate_files",
    "calibrate_frames",
    "coverage_study",
    "format_coverage",
    "from_run_frames",
    "infer_scale",
    "read_judgments",
    "read_label_studio",
    "read_labels",
    "read_table",
    "simulate_basic",
    "validate_inputs",
    "write_result",
]
