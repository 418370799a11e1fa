"""``rubrics.lock``: the released ``id@version`` -> content hash of every rubric."""

from __future__ import annotations

from pathlib import Path

from judge.errors import ConfigError
from judge.rubrics._load import default_root, list_rubrics, load_rubric, rubric_path
from judge.rubrics._model import Rubric
from judge.rubrics._semver import semver_key

LOCK_NAME = "rubrics.lock"
LOCK_HEADER = """\
# rubrics.lock: the released rubric versions and the sha256 of each normalised rubric.
# Written by `judge rubrics lock`. A released version never changes: to edit a rubric,
# copy it to a new version file, bump `version`, add a changelog entry, then lock again.
"""


def lock_path(root: Path | None = None) -> Path:
    """``<root>/rubrics.lock``."""
    return Path(root or default_root()) / LOCK_NAME


def parse_lock(text: str) -> tuple[dict[str, str], dict[str, int], list[tuple[int, str]]]:
    """Entries, the line of each entry, and (line, message) for malformed lines."""
    entries: dict[str, str] = {}
    lines: dict[str, int] = {}
    bad: list[tuple[int, str]] = []
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or "@" not in parts[0] or len(parts[1]) != 64:
            bad.append((no, f"expected `id@version <sha256>`, got {line[:60]!r}"))
        elif parts[0] in entries:
            bad.append((no, f"{parts[0]} is listed twice (first at line {lines[parts[0]]})"))
        else:
            entries[parts[0]], lines[parts[0]] = parts[1], no
    return entries, lines, bad


def read_lock(root: Path | None = None) -> dict[str, str]:
    """The lock of ``root`` (default ``rubrics/``); empty if there is none yet."""
    path = lock_path(root)
    if not path.exists():
        return {}
    entries, _, bad = parse_lock(path.read_text(encoding="utf-8"))
    if bad:
        raise ConfigError(bad[0][1], path=path, line=bad[0][0], col=1)
    return entries


def _sort_key(ref: str) -> tuple:
    rid, _, version = ref.partition("@")
    return (rid, semver_key(version))


def format_lock(entries: dict[str, str]) -> str:
    """The lock file text: header, then one ``id@version hash`` line per entry, sorted."""
    width = max((len(r) for r in entries), default=0)
    body = "".join(f"{r.ljust(width)}  {entries[r]}\n" for r in sorted(entries, key=_sort_key))
    return LOCK_HEADER + body


def write_lock(root: Path | None = None, *, force: bool = False) -> dict[str, str]:
    """Add every rubric version under ``root`` to its lock and return the entries.

    An entry that exists with another hash means a released version was edited: that
    raises ConfigError unless ``force`` (only for versions that were never used).
    """
    root = Path(root or default_root())
    old = read_lock(root)
    new = dict(old)
    changed = []
    for ref in list_rubrics(root):
        h = load_rubric(ref, root).hash
        if ref in old and old[ref] != h:
            changed.append(f"{ref} (lock {old[ref]}, file {h})")
        new[ref] = h
    if changed and not force:
        raise ConfigError("released rubric versions were edited: " + "; ".join(changed),
                          path=lock_path(root),
                          hint="bump their version instead, or pass --force for versions "
                               "that were never used in a run")
    lock_path(root).write_text(format_lock(new), encoding="utf-8")
    return new


def lock_status(rubric: Rubric, root: Path | None = None) -> str:
    """``"locked"``, ``"unlocked"`` (a version not released yet) or ``"modified"`` (the file
    no longer matches its released hash): for run manifests and warnings."""
    locked = read_lock(root).get(rubric.ref)
    if locked is None:
        return "unlocked"
    return "locked" if locked == rubric.hash else "modified"


def load_rubrics(refs: list[str], root: Path | None = None) -> list[Rubric]:
    """Load each ``id`` or ``id@version`` in order (a run config's ``rubrics``).

    A released version (in ``rubrics.lock``) whose file was edited in place is refused with
    the lint message, before any call: judgments under one ``id@version`` always share
    one content hash.
    """
    rubrics = [load_rubric(r, root) for r in refs]
    check_released(rubrics, root)
    return rubrics


def check_released(rubrics: list[Rubric], root: Path | None = None) -> None:
    """ConfigError if a rubric's released hash (``rubrics.lock``) differs from its file."""
    lock = read_lock(root)
    for rb in rubrics:
        locked = lock.get(rb.ref)
        if locked is not None and locked != rb.hash:
            path = rubric_path(rb.ref, root)
            raise ConfigError(
                f"{rb.ref} was edited after release: {LOCK_NAME} has {locked}, the file "
                f"hashes to {rb.hash}", path=path,
                hint="restore it and put your change in a new version (bump `version`, add a "
                     "changelog entry); `judge rubrics lint` shows it too")
