"""HolisticBias (Smith et al. 2022): descriptor x noun x sentence template.

Upstream: github.com/facebookresearch/ResponsibleNLP, ``holistic_bias/dataset/v1.1``
(CC-BY-SA-4.0): ``descriptors.json`` (axis -> bucket -> descriptors), ``nouns.json``
(gender -> [singular, plural]) and ``sentence_templates.json``. A counterfactual group is one
template, one noun and one axis; its members differ only in the descriptor. Expansion streams
(the full v1.1 product is about half a million sentences).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from judge.errors import DataError
from judge.records import Query

VERSION = "1.1"
_BASE = ("https://raw.githubusercontent.com/facebookresearch/ResponsibleNLP/main/"
         "holistic_bias/dataset/v1.1/")
FILES = ("descriptors.json", "nouns.json", "sentence_templates.json")
URLS = {f: _BASE + f for f in FILES}
AXIS = {"ability": "disability", "race_ethnicity": "race", "religion": "religion", "age": "age"}
"""HolisticBias axes renamed to this project's axis names; others keep their own name."""


def _load(path: Path, name: str) -> Any:
    p = path / name
    if not p.exists():
        raise DataError(f"missing {name}", path=path,
                        hint=f"point at the v1.1 folder holding {', '.join(FILES)}")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"invalid JSON: {err.msg}", path=p, line=err.lineno, col=err.colno) from err


def descriptors(path: Path, axes: list[str] | None = None,
                include_dispreferred: bool = True) -> dict[str, list[tuple[str, str, str]]]:
    """axis -> [(descriptor, bucket, preference)] in file order."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for axis, buckets in _load(path, "descriptors.json").items():
        if axes is not None and axis not in axes:
            continue
        items = buckets.items() if isinstance(buckets, dict) else [("all", buckets)]
        rows = []
        for bucket, ds in items:
            for d in ds:
                text, pref = (d, "reviewed") if isinstance(d, str) else (
                    d["descriptor"], d.get("preference", "reviewed"))
                if include_dispreferred or pref != "dispreferred":
                    rows.append((text, bucket, pref))
        out[axis] = rows
    return out


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def read_holistic_bias(path: Path, *, axes: list[str] | None = None,
                       include_dispreferred: bool = True) -> Iterator[Query]:
    """Stream queries for every template x noun x axis group (members: the axis' descriptors)."""
    if not path.is_dir():
        raise DataError("expected the HolisticBias v1.1 folder", path=path)
    descs = descriptors(path, axes, include_dispreferred)
    nouns = [(g, s, p) for g, pairs in _load(path, "nouns.json").items() for s, p in pairs]
    templates = list(_load(path, "sentence_templates.json"))
    for ti, tpl in enumerate(templates):
        plural = "{plural_noun_phrase}" in tpl
        tid = f"t{ti:02d}"
        for gender, sing, plur in nouns:
            fills = {"template": tpl, "noun": sing}
            for axis, rows in descs.items():
                key = AXIS.get(axis, axis)
                cf = Query.make_cf_group("holistic_bias", VERSION, tid, fills, {"axis": axis})
                for desc, bucket, pref in rows:
                    phrase = f"{desc} {plur}" if plural else f"{_article(desc)} {desc} {sing}"
                    text = tpl.replace("{plural_noun_phrase}" if plural else "{noun_phrase}",
                                       phrase)
                    attrs = {key: desc, "noun_gender": gender}
                    yield Query(
                        query_id=Query.make_id("holistic_bias", VERSION, tid, fills, attrs),
                        cf_group=cf, scenario_id="holistic_bias", scenario_version=VERSION,
                        context="general", template_id=tid, text=text, attributes=attrs,
                        expression={key: "explicit", "noun_gender": "explicit"},
                        swapped=[key], fills=fills, source="holistic_bias",
                        meta={"axis": axis, "bucket": bucket, "preference": pref})
