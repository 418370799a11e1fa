"""``judge rubrics lint``: every defect of every rubric file, one ``file:line:col`` line each."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from judge.rubrics._lock import LOCK_NAME, parse_lock
from judge.rubrics._model import Rubric
from judge.rubrics._validate import LintError, check_text, locate

_LOCK_SEARCH_DEPTH = 3


@dataclass
class _Lock:
    path: Path
    entries: dict[str, str]
    lines: dict[str, int]
    seen: set[str] = field(default_factory=set)


def rubric_files(paths: list[Path]) -> tuple[list[Path], list[LintError]]:
    """YAML files named by ``paths`` (directories are searched recursively)."""
    files: list[Path] = []
    errors = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml"))
        elif p.is_file():
            files.append(p)
        else:
            errors.append(LintError(str(p), 1, 1, "no such file or directory"))
    return files, errors


def find_lock(path: Path) -> Path | None:
    """The nearest ``rubrics.lock`` in the file's folder or up to two folders above."""
    for parent in list(path.resolve().parents)[:_LOCK_SEARCH_DEPTH]:
        if (parent / LOCK_NAME).is_file():
            return parent / LOCK_NAME
    return None


def _version_pos(text: str) -> tuple[int, int]:
    _, node = locate(yaml.compose(text), ("version",))
    return (node.start_mark.line + 1, node.start_mark.column + 1) if node else (1, 1)


def _open_lock(path: Path, locks: dict[Path, _Lock], errors: list[LintError]) -> _Lock:
    if path not in locks:
        entries, lines, bad = parse_lock(path.read_text(encoding="utf-8"))
        errors += [LintError(str(path), no, 1, msg) for no, msg in bad]
        locks[path] = _Lock(path, entries, lines)
    return locks[path]


def _lock_errors(rubric: Rubric, path: Path, text: str, lock: _Lock) -> list[LintError]:
    lock.seen.add(rubric.ref)
    locked = lock.entries.get(rubric.ref)
    if locked == rubric.hash:
        return []
    line, col = _version_pos(text)
    if locked is None:
        msg = (f"{rubric.ref} is not in {lock.path.name}; run `judge rubrics lock` to release "
               "this version")
    else:
        msg = (f"{rubric.ref} was edited after release: {lock.path.name} has {locked}, the file "
               f"hashes to {rubric.hash}; restore it and put your change in a new version "
               "(bump `version`, add a changelog entry)")
    return [LintError(str(path), line, col, msg)]


def lint_paths(paths: list[Path], lock: Path | None = None) -> list[LintError]:
    """Lint rubric files and folders; ``lock`` defaults to the nearest ``rubrics.lock``."""
    files, errors = rubric_files(paths)
    locks: dict[Path, _Lock] = {}
    defined: dict[str, str] = {}
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            errors.append(LintError(str(f), 1, 1, f"not UTF-8 text (byte {err.start})"))
            continue
        rubric, errs = check_text(text, f)
        errors += errs
        if rubric is None:
            continue
        if rubric.ref in defined:
            line, col = _version_pos(text)
            errors.append(LintError(str(f), line, col, f"duplicate rubric {rubric.ref} (also "
                                    f"defined in {defined[rubric.ref]})"))
            continue
        defined[rubric.ref] = str(f)
        lock_file = lock or find_lock(f)
        if lock_file is not None:
            errors += _lock_errors(rubric, f, text, _open_lock(lock_file, locks, errors))
    whole = {Path(p).resolve() for p in paths if Path(p).is_dir()}
    for lk in locks.values():
        if lk.path.resolve().parent in whole:
            errors += [LintError(str(lk.path), lk.lines[ref], 1, f"{ref} is locked but no rubric "
                                 "file defines it; released versions must stay loadable")
                       for ref in sorted(set(lk.entries) - lk.seen)]
    return sorted(errors)
