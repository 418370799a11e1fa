"""The run directory: append-only JSONL per stage, torn-line repair, and the manifest.

Layout of ``runs/<name>/``::

    manifest.json        config snapshot, versions, rubric hashes, counts, cost, timings
    queries.jsonl        generations.jsonl   judgments.jsonl   human_labels.jsonl
    calibration.json     metrics.json  metrics.csv  report.md  report.html
    *.jsonl.torn         bytes cut from a torn trailing line (kept, never silently lost)
    *.bak.N              earlier files moved aside by ``--force`` (numbered, never overwritten)
    .lock                the pid of the process holding the run (an flock: dies with it)

Writers append whole lines and flush (and fsync) every ``flush_every`` records, so a killed
process leaves at most one torn trailing line, which :func:`repair_jsonl` cuts on reopen.
Readers keep the *last* record per id, so a retried error record supersedes the old one.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from judge.config import redact_obj
from judge.errors import StoreError
from judge.records import SCHEMA_VERSION, Record

STAGE_FILES = {
    "queries": "queries.jsonl",
    "generations": "generations.jsonl",
    "judgments": "judgments.jsonl",
    "human_labels": "human_labels.jsonl",
}


@dataclass(frozen=True)
class Repair:
    """A torn trailing line that was cut from a JSONL file on reopen."""

    file: str
    offset: int
    bytes_cut: int
    saved_to: str

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "offset": self.offset, "bytes_cut": self.bytes_cut,
                "saved_to": self.saved_to}


def _open_nofollow(path: Path, flags: int) -> int:
    """``os.open`` that refuses a symbolic link (so repair never writes through one)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, 0o644)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise StoreError("is a symbolic link; a run file must be a regular file inside "
                             "the run directory", path=path,
                             hint="replace the link with the file it points to") from err
        raise


def repair_jsonl(path: Path) -> Repair | None:
    """Cut a torn trailing line (no final newline), saving the cut bytes to ``<path>.torn``.

    Never follows a symbolic link (the file or its ``.torn``): a StoreError instead.
    """
    if path.is_symlink():
        _open_nofollow(path, os.O_RDONLY)  # raises the StoreError
    if not path.exists() or path.stat().st_size == 0:
        return None
    size = path.stat().st_size
    with os.fdopen(_open_nofollow(path, os.O_RDWR), "rb+") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return None
        # Find the last newline by scanning backwards in blocks.
        pos, block, last_nl = size, 1 << 16, -1
        while pos > 0 and last_nl < 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            i = chunk.rfind(b"\n")
            if i >= 0:
                last_nl = start + i
            pos = start
        keep = last_nl + 1
        fh.seek(keep)
        torn = fh.read()
        torn_path = path.with_name(path.name + ".torn")
        with os.fdopen(_open_nofollow(torn_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND),
                       "ab") as tf:
            tf.write(torn + b"\n")
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return Repair(path.name, keep, len(torn), torn_path.name)


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, obj)``; a bad line is a StoreError naming file and line."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                if not line.endswith("\n"):
                    raise StoreError("torn trailing line", path=path, line=n,
                                     hint="reopen the run (judge run) to repair it") from err
                raise StoreError(f"invalid JSON: {err.msg}", path=path, line=n,
                                 col=err.colno) from err
            if not isinstance(obj, dict):
                raise StoreError("expected a JSON object", path=path, line=n,
                                 hint="fix or remove the line")
            version = obj.get("schema_version", 1)
            if isinstance(version, int) and version > SCHEMA_VERSION:
                raise StoreError(f"schema_version {obj['schema_version']} is newer than this "
                                 f"judge ({SCHEMA_VERSION})", path=path, line=n,
                                 hint="upgrade judge to read this run")
            yield n, obj


def read_records(path: Path, cls: type[Record], latest: bool = True) -> list[Record]:
    """All records of a file, validated; with ``latest`` the last record per id wins."""
    out: dict[str, Record] = {}
    rows: list[Record] = []
    for n, obj in iter_jsonl(path):
        try:
            rec = cls.model_validate(obj)
        except ValidationError as err:
            e = err.errors(include_url=False, include_input=False)[0]
            raise StoreError(f"not a valid {cls.__name__} record: {e['msg']}", path=path,
                             line=n, field=".".join(map(str, e["loc"])) or None,
                             hint="fix or remove the line") from err
        if latest:
            out[rec.record_id] = rec
        else:
            rows.append(rec)
    return list(out.values()) if latest else rows


def latest_dicts(path: Path, id_field: str) -> dict[str, dict[str, Any]]:
    """The last raw dict per id (no validation: fast path for large files)."""
    out: dict[str, dict[str, Any]] = {}
    for n, obj in iter_jsonl(path):
        if not isinstance(obj, dict) or id_field not in obj:
            raise StoreError(f"record has no {id_field}", path=path, line=n, field=id_field,
                             hint="fix or remove the line")
        out[obj[id_field]] = obj
    return out


def scan_ids(path: Path, id_field: str, keep: Callable[[dict[str, Any]], bool] | None = None
             ) -> set[str]:
    """Ids whose *latest* record satisfies ``keep`` (default: every id present).

    Streams the file and keeps one boolean per id, not the records (flat memory).
    """
    last: dict[str, bool] = {}
    for n, obj in iter_jsonl(path):
        if id_field not in obj:
            raise StoreError(f"record has no {id_field}", path=path, line=n, field=id_field,
                             hint="fix or remove the line")
        last[obj[id_field]] = keep is None or bool(keep(obj))
    return {i for i, k in last.items() if k}


class JsonlWriter:
    """Append-only writer: whole lines, flushed and fsynced every ``flush_every`` records."""

    def __init__(self, path: Path, flush_every: int = 64, fsync: bool = True):
        self.path = path
        self.flush_every = flush_every
        self.fsync = fsync
        self._buf: list[str] = []
        self.written = 0
        #: a writer whose records this file refers to: flushed first, so none of this file's
        #: lines reaches the disk before the records it refers to (e.g. generations first)
        self.flush_first: Any = None
        try:
            self._fh = open(path, "a", encoding="utf-8")
        except OSError as err:
            raise StoreError(f"cannot open for append: {err.strerror}", path=path,
                             hint="check permissions and free space") from err

    def write(self, rec: Record | dict[str, Any]) -> None:
        line = rec.model_dump_json() if isinstance(rec, Record) else json.dumps(
            rec, ensure_ascii=False)
        self._buf.append(line + "\n")
        if len(self._buf) >= self.flush_every:
            self.flush()

    def write_lines(self, lines: list[str]) -> None:
        """Append ready-made JSON lines (records serialized elsewhere, e.g. by a worker)."""
        self._buf.extend(line + "\n" for line in lines)
        if len(self._buf) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if not self._buf:
            return
        if self.flush_first is not None:
            self.flush_first.flush()
        data = "".join(self._buf)
        try:
            self._fh.write(data)
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())
        except OSError as err:
            raise StoreError(f"write failed: {err.strerror}", path=self.path,
                             hint="free disk space, then re-run to resume") from err
        self.written += len(self._buf)
        self._buf.clear()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._fh.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def count_lines(path: Path) -> int:
    """Lines in a file (0 if absent), counted in 1 MiB blocks."""
    if not path.exists():
        return 0
    with open(path, "rb") as fh:
        return sum(buf.count(b"\n") for buf in iter(lambda: fh.read(1 << 20), b""))


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON via a temp file + rename, so readers never see a half-written file."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    write_text_atomic(path, text)


def write_text_atomic(path: Path, text: str) -> None:
    """Write text via a temp file + rename; a failure leaves the old file as it was."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide reports from other users
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
        raise StoreError(f"write failed: {err.strerror}", path=path,
                         hint="free disk space or fix permissions, then re-run to resume"
                         ) from err


LOCK_NAME = ".lock"


class RunLock:
    """An exclusive ``flock`` on ``<run>/.lock``, holding the owner's pid.

    The kernel drops it when the process dies (even on kill -9), so a crashed run never
    leaves a stale lock; a second process is refused at once, naming the holder.
    """

    def __init__(self, run_dir: Path):
        self.fd: int | None = None
        self.path = Path(run_dir) / LOCK_NAME
        fd = _open_nofollow(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StoreError(f"run directory is in use by another judge process "
                                 f"(pid {holder})", path=run_dir,
                                 hint="wait for it to finish or stop it, then re-run") from err
            raise StoreError(f"cannot lock the run directory: {err.strerror}",
                             path=run_dir) from err
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if getattr(self, "fd", None) is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __del__(self) -> None:  # a dropped RunStore (library use) frees its run
        try:
            self.release()
        except OSError:
            pass


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


class RunStore:
    """A run directory. Opening it repairs torn trailing lines of every JSONL file.

    With ``lock`` (every ``judge run``/stage command), the directory is locked first
    (:class:`RunLock`), so repair never cuts a line another process is writing.
    """

    def __init__(self, run_dir: Path, create: bool = True, lock: bool = False):
        self.dir = Path(run_dir)
        self.lock: RunLock | None = None
        if create:
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StoreError(f"cannot create run directory: {err.strerror}", path=self.dir,
                                 hint="choose a writable output_dir") from err
            if not os.access(self.dir, os.W_OK):
                raise StoreError("run directory is not writable", path=self.dir,
                                 hint="fix permissions or choose another output_dir")
        elif not self.dir.is_dir():
            raise StoreError("no such run directory", path=self.dir,
                             hint="run `judge run CONFIG` first")
        self.repairs: list[Repair] = []
        if lock:
            self.lock = RunLock(self.dir)
        if create:
            try:
                self._check_links()
                names = sorted({*STAGE_FILES.values(),
                                *(p.name for p in self.dir.glob("*.jsonl"))})
                for name in names:
                    rep = repair_jsonl(self.dir / name)
                    if rep:
                        self.repairs.append(rep)
            except BaseException:
                self.unlock()
                raise

    def _check_links(self) -> None:
        """Refuse a run file that is a symbolic link out of the run directory."""
        for p in self.dir.iterdir():
            if p.is_symlink() and not _inside(p, self.dir):
                raise StoreError("is a symbolic link out of the run directory; judge never "
                                 "writes through one", path=p,
                                 hint="replace the link with a regular file")

    def unlock(self) -> None:
        """Release the run lock (also released by the kernel when the process exits)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def path(self, stage: str) -> Path:
        return self.dir / STAGE_FILES.get(stage, stage)

    def writer(self, stage: str, flush_every: int = 64) -> JsonlWriter:
        return JsonlWriter(self.path(stage), flush_every)

    def records(self, stage: str, cls: type[Record]) -> list[Record]:
        return read_records(self.path(stage), cls)

    def reset(self, stage: str) -> Path | None:
        """Move a stage's file aside (``--force STAGE``) to the first free ``.bak.N``: every
        earlier file is kept, none is ever overwritten. Returns where it went."""
        p = self.path(stage)
        if not p.exists() and not p.is_symlink():
            return None
        n = 1
        while True:
            dest = p.with_name(f"{p.name}.bak.{n}")
            try:
                os.link(p, dest, follow_symlinks=False)  # fails if dest exists: no overwrite
            except FileExistsError:
                n += 1
                continue
            os.unlink(p)
            return dest

    # ---- manifest
    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {}
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise StoreError(f"manifest is not valid JSON: {err.msg}", path=self.manifest_path,
                             line=err.lineno) from err

    def update_manifest(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into manifest.json; every string is redacted of secrets first."""
        m = self.manifest()
        for k, v in fields.items():
            if isinstance(v, dict) and isinstance(m.get(k), dict):
                m[k] = {**m[k], **v}
            else:
                m[k] = v
        m = redact_obj(m)
        write_json_atomic(self.manifest_path, m)
        return m


def summarize_records(store: RunStore) -> dict[str, Any]:
    """Counts by status, tokens and cost over the latest record per id of each file.

    Streams each file keeping a small tuple per id (not the records), so memory stays flat.
    """
    counts: dict[str, Any] = {}
    tokens = {"prompt": 0, "completion": 0}
    cost, unknown = 0.0, 0
    for stage, idf, status in (("queries", "query_id", None),
                               ("generations", "generation_id", "status"),
                               ("judgments", "judgment_id", "parse_status"),
                               ("human_labels", "label_id", None)):
        last: dict[str, tuple] = {}
        for _, r in iter_jsonl(store.path(stage)):
            u = r.get("usage") or {}
            last[r[idf]] = (r.get(status) if status else None, u.get("prompt_tokens", 0),
                            u.get("completion_tokens", 0), r.get("cost_usd"),
                            r.get("error") is None)
        counts[stage] = len(last)
        if status:
            counts[f"{stage}_by_status"] = dict(Counter(t[0] for t in last.values()))
            for _st, pt, ct, c, no_err in last.values():
                tokens["prompt"] += pt
                tokens["completion"] += ct
                if c is None:
                    unknown += int(no_err)
                else:
                    cost += c
    return {"counts": counts, "tokens": tokens,
            "cost": {"total_usd": round(cost, 6), "calls_with_unknown_cost": unknown}}
