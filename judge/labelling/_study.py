"""One call from items to a study directory: blind copies, key, manifest, Label Studio."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from judge.labelling._io import RATER_DIR, write_sheets
from judge.labelling._label_studio import export_label_studio
from judge.labelling._sheet import LabelItem, build_sheets


def labelling_hint(run_dir: str | Path) -> str:
    """What a run without human labels needs, naming its labelling sheets if written
    (``RUN_DIR/labelling/``, as ``judge calibrate sample CONFIG`` writes them)."""
    run_dir = Path(run_dir)
    sheet_dir = run_dir / "labelling"
    sheets = sorted((sheet_dir / RATER_DIR).glob("sheet-*.csv"))
    head = ("Judge-vs-human calibration needs human labels, and this run has none: the "
            "judge's own bias is unmeasured and judge-based disparities are uncorrected. ")
    tail = ("When they are filled in, turn them into labels with `judge labels import "
            "ANSWERS --key " + str(sheet_dir) + " --out human_labels.jsonl`, set "
            "`human_labels: {path: human_labels.jsonl}` in the config and run `judge "
            "calibrate CONFIG` and `judge report CONFIG` (docs/LABELLING.md).")
    if sheets:
        key = sheet_dir / "key.jsonl"
        n = sum(1 for _ in key.open()) if key.exists() else None
        rows = f" ({n} rows)" if n is not None else ""
        return (head + f"Blind labelling sheets for raters{rows} are ready: "
                + ", ".join(str(p) for p in sheets) + " (or the labelling page: `judge label "
                + str(sheets[0].with_suffix(".jsonl")) + "`). " + tail)
    return (head + "Write blind labelling sheets for raters with `judge calibrate sample "
            "CONFIG --n 200` (they go to " + str(sheet_dir) + "). " + tail)


def default_raters(n: int) -> list[str]:
    """``rater-1 .. rater-n``."""
    return [f"rater-{i}" for i in range(1, n + 1)]


def write_study(items: Sequence[LabelItem], out_dir: str | Path, *, raters: Sequence[str],
                seed: int, overlap: float = 0.0, per_item: int = 2,
                label_studio: bool = True, meta: dict[str, Any] | None = None
                ) -> dict[str, Path]:
    """Write every rater's blind copy, the key and manifest (and Label Studio files)."""
    sheets = build_sheets(items, raters, seed=seed, overlap=overlap, per_item=per_item)
    paths = write_sheets(sheets, out_dir, seed=seed, overlap=overlap, per_item=per_item,
                         meta=meta)
    if label_studio:
        rows = [r for rows in sheets.copies.values() for r in rows]
        paths.update(export_label_studio(rows, Path(out_dir) / "labelstudio"))
    return paths
