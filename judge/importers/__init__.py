"""Importers: upstream fairness datasets -> Query JSONL (``judge datasets import NAME PATH``).

The registry is a plain dict; each entry names its reader, its upstream files and a citation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judge.errors import UsageError
from judge.importers import bbq, discrim_eval, generic, holistic_bias
from judge.importers._common import download, write_queries
from judge.importers.bbq import read_bbq
from judge.importers.discrim_eval import read_discrim_eval
from judge.importers.generic import ColumnMapping, read_generic
from judge.importers.holistic_bias import read_holistic_bias
from judge.records import Query


@dataclass(frozen=True)
class Importer:
    """One importable dataset."""

    name: str
    read: Callable[..., Iterator[Query]]
    citation: str
    license: str
    urls: dict[str, str] = field(default_factory=dict)
    fetch_default: tuple[str, ...] = ()
    """Files fetched by default (all of ``urls`` when empty)."""


IMPORTERS: dict[str, Importer] = {
    "discrim_eval": Importer(
        "discrim_eval", read_discrim_eval,
        "Tamkin et al. (2023), Evaluating and Mitigating Discrimination in Language Model "
        "Decisions, arXiv:2312.03689", "CC-BY-4.0", discrim_eval.URLS, ("explicit.jsonl",)),
    "bbq": Importer(
        "bbq", read_bbq,
        "Parrish et al. (2022), BBQ: A Hand-Built Bias Benchmark for Question Answering, "
        "Findings of ACL 2022", "CC-BY-4.0", bbq.URLS),
    "holistic_bias": Importer(
        "holistic_bias", read_holistic_bias,
        "Smith et al. (2022), \"I'm sorry to hear that\": Finding New Biases in Language "
        "Models with a Holistic Descriptor Dataset, EMNLP 2022", "CC-BY-SA-4.0",
        holistic_bias.URLS),
    "csv": Importer("csv", read_generic, "your own prompts (CSV/TSV/JSONL)", "yours"),
}


def get_importer(name: str) -> Importer:
    """The importer called ``name``; a UsageError lists the known ones."""
    try:
        return IMPORTERS[name]
    except KeyError:
        raise UsageError(f"unknown dataset {name!r}",
                         hint=f"choose one of: {', '.join(IMPORTERS)}") from None


def import_dataset(name: str, path: str | Path, **options: Any) -> Iterator[Query]:
    """Stream the queries of dataset ``name`` read from ``path``."""
    return get_importer(name).read(Path(path), **options)


def fetch_dataset(name: str, dest: str | Path | None = None, *,
                  files: list[str] | None = None, timeout: float = 60.0) -> list[Path]:
    """Download a dataset's upstream files (needs network) into ``dest``."""
    imp = get_importer(name)
    if not imp.urls:
        raise UsageError(f"dataset {name!r} has nothing to download")
    want = files or list(imp.fetch_default or imp.urls)
    unknown = [f for f in want if f not in imp.urls]
    if unknown:
        raise UsageError(f"unknown file {unknown[0]!r} for {name}",
                         hint=f"choose from: {', '.join(imp.urls)}")
    out = Path(dest) if dest else Path(".cache") / "datasets" / name
    return [download(imp.urls[f], out / f, timeout=timeout) for f in want]


__all__ = ["IMPORTERS", "ColumnMapping", "Importer", "fetch_dataset", "generic",
           "get_importer", "import_dataset", "read_bbq", "read_discrim_eval", "read_generic",
           "read_holistic_bias", "write_queries"]
