"""One call from items to a study directory: blind copies, key, manifest, Label Studio."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from judge.labelling._io import write_sheets
from judge.labelling._label_studio import export_label_studio
from judge.labelling._sheet import LabelItem, build_sheets


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
