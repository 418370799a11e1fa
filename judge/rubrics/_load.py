"""Find and load rubric versions laid out as ``<root>/<id>/<version>.yaml``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from judge.config import PROJECT_ROOT
from judge.errors import ConfigError
from judge.rubrics._model import Rubric
from judge.rubrics._semver import is_semver, newest, semver_key
from judge.rubrics._validate import check_text


def default_root() -> Path:
    """The project's ``rubrics/`` directory."""
    return PROJECT_ROOT / "rubrics"


def split_ref(ref: str) -> tuple[str, str | None]:
    """``"id@1.0.0"`` -> ``("id", "1.0.0")``; ``"id"`` -> ``("id", None)``.

    >>> split_ref("answer_quality@1.1.0")
    ('answer_quality', '1.1.0')
    """
    rid, _, version = ref.strip().partition("@")
    return rid, (version or None)


def versions_of(rubric_id: str, root: Path | None = None) -> list[str]:
    """Versions of one rubric available under ``root``, oldest first."""
    d = Path(root or default_root()) / rubric_id
    found = [p.stem for p in d.glob("*.yaml") if is_semver(p.stem)] if d.is_dir() else []
    return sorted(found, key=semver_key)


def list_rubrics(root: Path | None = None) -> list[str]:
    """Every ``id@version`` under ``root``, sorted by id then version."""
    root = Path(root or default_root())
    dirs = sorted(d for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    return [f"{d.name}@{v}" for d in dirs for v in versions_of(d.name, root)]


def rubric_path(ref: str, root: Path | None = None) -> Path:
    """The file of ``id`` (newest version) or ``id@version``; ConfigError if there is none."""
    root = Path(root or default_root())
    rid, version = split_ref(ref)
    available = versions_of(rid, root)
    if not available:
        known = sorted({r.split("@")[0] for r in list_rubrics(root)})
        raise ConfigError(f"unknown rubric {rid!r}", field="rubrics",
                          hint=f"known in {root}: {', '.join(known) or 'none'}")
    if version is None:
        version = newest(available)
    elif version not in available:
        raise ConfigError(f"rubric {rid!r} has no version {version!r}", field="rubrics",
                          hint=f"available: {', '.join(available)}")
    return root / rid / f"{version}.yaml"


def load_rubric(ref: str, root: Path | None = None) -> Rubric:
    """Load ``id`` (its newest version) or ``id@version`` from ``root`` (default ``rubrics/``).

    Raises ConfigError naming file:line:col for the first defect (lint shows them all).
    """
    path = rubric_path(ref, root)
    rubric = load_rubric_file(path)
    rid, version = split_ref(ref)
    if rubric.id != rid:
        raise ConfigError(f"file holds rubric {rubric.id!r}, not {rid!r}", path=path,
                          hint=f"move it to {rubric.id}/{rubric.version}.yaml")
    return rubric


def load_rubric_file(path: Path) -> Rubric:
    """Load one rubric file, whatever its name. Cached while the file is unchanged."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as err:
        raise ConfigError("file not found", path=path, hint="check the path") from err
    return _load_cached(str(path.resolve()), st.st_mtime_ns, st.st_size, str(path))


@lru_cache(maxsize=256)
def _load_cached(resolved: str, mtime_ns: int, size: int, shown: str) -> Rubric:
    try:
        text = Path(resolved).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (byte {err.start})", path=shown,
                          hint="save the file as UTF-8") from err
    rubric, errors = check_text(text, Path(shown))
    if errors:
        first = errors[0]
        more = f"{len(errors) - 1} more; " if len(errors) > 1 else ""
        raise ConfigError(first.message, path=shown, line=first.line, col=first.col,
                          hint=f"{more}run `judge rubrics lint {shown}`")
    assert rubric is not None
    return rubric
