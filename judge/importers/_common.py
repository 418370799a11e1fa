"""Shared helpers for importers: reading (optionally gzipped) JSONL/CSV, writing Query JSONL,
and downloading upstream files."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from judge.errors import DataError
from judge.records import Query


def open_text(path: Path) -> TextIO:
    """Open a text file, transparently gunzipping ``*.gz``."""
    if not path.exists():
        raise DataError("file not found", path=path)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return path.open(encoding="utf-8", newline="")


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a bad line is a DataError at file:line."""
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"invalid JSON: {err.msg}", path=path, line=lineno,
                                col=err.colno) from err
            if not isinstance(obj, dict):
                raise DataError("each line must be a JSON object", path=path, line=lineno)
            yield lineno, obj


def iter_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a CSV (line numbers count the header as line 1) or JSONL file."""
    name = path.name.removesuffix(".gz")
    if name.endswith((".jsonl", ".json", ".ndjson")):
        yield from iter_jsonl(path)
        return
    if not name.endswith((".csv", ".tsv")):
        raise DataError("unsupported file type", path=path, hint="use .csv, .tsv or .jsonl")
    with open_text(path) as fh:
        reader = csv.DictReader(fh, delimiter="\t" if name.endswith(".tsv") else ",")
        for row in reader:
            yield reader.line_num, dict(row)


def require(obj: dict[str, Any], keys: Iterable[str], path: Path, line: int) -> None:
    """Raise a DataError naming the first missing key."""
    for k in keys:
        if k not in obj:
            raise DataError(f"missing field {k!r}", path=path, line=line)


def write_queries(queries: Iterable[Query], out: Path) -> tuple[int, int]:
    """Write queries as JSONL (atomically: a temp file then rename); return (queries, groups)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    n, groups = 0, set()
    with tmp.open("w", encoding="utf-8") as fh:
        for q in queries:
            fh.write(q.model_dump_json() + "\n")
            n += 1
            groups.add(q.cf_group)
    os.replace(tmp, out)
    return n, len(groups)


def download(url: str, dest: Path, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest``; offline or HTTP failures become one clear DataError."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, tmp.open("wb") as fh:
            while chunk := resp.read(1 << 20):
                fh.write(chunk)
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        tmp.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise DataError(f"download failed: {reason}", path=url,
                        hint="are you online? or download it by hand and run "
                             "`judge datasets import NAME PATH`") from err
    os.replace(tmp, dest)
    return dest
