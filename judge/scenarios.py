"""TEMPORARY stand-in (replaced by the scenarios branch): minimal expansion + cues."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from judge.config import QueriesConfig, resolve_path
from judge.records import Query

NAMES = {("White", "female"): ["Emily Walsh", "Anne Baker"],
         ("White", "male"): ["Greg Baker", "Todd Walsh"],
         ("Black", "female"): ["Lakisha Washington", "Tamika Jackson"],
         ("Black", "male"): ["Jamal Jones", "Darnell Robinson"]}


@dataclass(frozen=True)
class Cue:
    text: str
    axis: str
    value: str
    mode: str


def attribute_cues(root: Path | None = None) -> list[Cue]:
    out = []
    for (race, gender), names in NAMES.items():
        for n in names:
            out += [Cue(n, "race", race, "name"), Cue(n, "gender", gender, "name")]
    return out


def iter_queries(cfg: QueriesConfig, *, seed: int = 0) -> Iterator[Query]:
    import glob
    paths = [p for pat in cfg.scenarios for p in sorted(glob.glob(str(resolve_path(pat.split("*")[0]) / "*.yaml")))] if any("*" in p for p in cfg.scenarios) else [resolve_path(p) for p in cfg.scenarios]
    groups = 0
    for path in map(Path, paths):
        sc = yaml.safe_load(path.read_text())
        slots = sc.get("slots", {})
        keys = sorted(slots)
        for combo in itertools.product(*(slots[k] for k in keys)):
            fills = dict(zip(keys, combo))
            cf = Query.make_cf_group(sc["id"], str(sc["version"]), "main", fills)
            groups += 1
            if cfg.limit and groups > cfg.limit:
                return
            for (race, gender), names in NAMES.items():
                attrs = {"race": race, "gender": gender}
                f2 = {**fills, "name": names[0]}
                text = sc["template"].format(**f2)
                yield Query(query_id=Query.make_id(sc["id"], str(sc["version"]), "main", fills,
                                                   attrs),
                            cf_group=cf, scenario_id=sc["id"], scenario_version=str(sc["version"]),
                            context=sc["context"], text=text, attributes=attrs,
                            expression={"race": "name", "gender": "name"},
                            swapped=["race", "gender"], fills=fills)
