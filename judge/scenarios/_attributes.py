"""Attribute lists (names, identity terms, pronouns, ages, religion, disability, dialect pairs)
and the surface cues that express each attribute level in text."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from judge.config import PROJECT_ROOT, load_yaml
from judge.errors import ConfigError, DataError

AXES = ("race", "gender", "age", "religion", "disability", "dialect")
"""Sensitive axes a scenario may declare."""

NAME_LISTS = {"bloomberg_2024": "names_bloomberg_2024.yaml",
              "bertrand_mullainathan_2004": "names_bertrand_mullainathan_2004.yaml"}

# First names that are also common English words, places or titles: a reader could not tell
# them from ordinary text, so they never serve as cues on their own (full names still do).
_WORDLIKE = frozenset("""Angel Bailey Brooks Carter Chase Clay Cole Cooper Crystal Daisy Drew
Essence Ginger Grace Grant Heath Heather Holly Hong Hunter Jack Joy Kenya Kim Lane Long Mahogany
Mason Max May Misty Parker Precious Prince Reid Riley Ross Taylor Tucker Unique Van Walker Willie
Jesus Sade Rico Deja""".split())


@dataclass(frozen=True)
class Cue:
    """A surface string that expresses one attribute level, e.g. ("Lakisha", race, Black, name)."""

    text: str
    axis: str
    value: str
    mode: str


@dataclass
class Library:
    """All attribute lists of one ``datasets/attributes`` folder, loaded and cross-checked."""

    root: Path
    names: dict[str, dict[tuple[str, str], list[str]]] = field(default_factory=dict)
    race_adj: dict[str, str] = field(default_factory=dict)
    gender_noun: dict[str, str] = field(default_factory=dict)
    pronouns: dict[str, dict[str, str]] = field(default_factory=dict)
    age_years: dict[str, int] = field(default_factory=dict)
    religion_adj: dict[str, str] = field(default_factory=dict)
    disability_phrase: dict[str, str] = field(default_factory=dict)
    dialect: dict[str, dict[str, Any]] = field(default_factory=dict)
    first_name_cues: dict[str, tuple[str, str]] = field(default_factory=dict)

    def explicit_levels(self, axis: str) -> dict[str, str]:
        """Level -> explicit phrase for an axis that can be stated outright."""
        return {"race": self.race_adj, "gender": self.gender_noun,
                "age": {k: f"{v}-year-old" for k, v in self.age_years.items()},
                "religion": self.religion_adj, "disability": self.disability_phrase,
                }.get(axis, {})

    def name_pool(self, list_id: str, race: str, gender: str, *, first_only: bool) -> list[str]:
        """Full names of one cell; with ``first_only`` only names whose first name is a cue."""
        pool = self.names.get(list_id, {}).get((race, gender), [])
        if first_only:
            pool = [n for n in pool if n.split()[0] in self.first_name_cues]
        return pool


def _read(path: Path) -> dict[str, Any]:
    try:
        data, _ = load_yaml(path)
    except ConfigError as err:
        raise DataError(err.message, path=err.path, line=err.line, col=err.col) from err
    if not isinstance(data, dict):
        raise DataError("an attribute file must be a YAML mapping", path=path)
    return data


def _names_of(data: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    if "names" in data:
        return {(r, g): list(ns) for r, by_g in data["names"].items() for g, ns in by_g.items()}
    out: dict[tuple[str, str], list[str]] = {}
    for race, by_g in data["first_names"].items():
        surnames = data["surnames"][race]
        for gender, firsts in by_g.items():
            out[(race, gender)] = [f"{f} {surnames[i % len(surnames)]}"
                                   for i, f in enumerate(firsts)]
    return out


def _explicit_words(lib: Library) -> set[str]:
    words = {*lib.race_adj.values(), *lib.religion_adj.values()}
    for p in lib.pronouns.values():
        words |= {p["subj"], p["obj"], p["poss"]}
    return {w.lower() for w in words}


def _clean_names(lib: Library) -> None:
    """Drop names containing another cue word ("Christian Choi"), then pick first-name cues."""
    banned = _explicit_words(lib)
    cells_of_first: dict[str, set[tuple[str, str]]] = defaultdict(set)
    surnames: set[str] = set()
    for list_id, cells in lib.names.items():
        for cell, names in cells.items():
            kept = [n for n in names if not banned & {t.lower() for t in n.split()}]
            lib.names[list_id][cell] = kept
            for n in kept:
                first, *rest = n.split()
                cells_of_first[first].add(cell)
                surnames.update(rest)
    lib.first_name_cues = {f: next(iter(c)) for f, c in cells_of_first.items()
                           if len(c) == 1 and f not in surnames and f not in _WORDLIKE}


@lru_cache(maxsize=8)
def load_library(root: Path | None = None) -> Library:
    """Load ``<root>/datasets/attributes`` (root defaults to the project root)."""
    base = (root or PROJECT_ROOT) / "datasets" / "attributes"
    lib = Library(root=base)
    for list_id, fname in NAME_LISTS.items():
        lib.names[list_id] = _names_of(_read(base / fname))
    terms = _read(base / "identity_terms.yaml")
    lib.race_adj = {k: v["adj"] for k, v in terms["race"].items()}
    lib.gender_noun = {k: v["noun"] for k, v in terms["gender"].items()}
    lib.pronouns = dict(_read(base / "pronouns.yaml")["gender"])
    lib.age_years = {str(k): int(v["years"]) for k, v in _read(base / "age_bands.yaml")["age"].items()}
    lib.religion_adj = {k: v["adj"] for k, v in _read(base / "religion.yaml")["religion"].items()}
    lib.disability_phrase = {k: v["phrase"]
                             for k, v in _read(base / "disability.yaml")["disability"].items()}
    lib.dialect = dict(_read(base / "dialect_pairs.yaml")["pairs"])
    _clean_names(lib)
    return lib


def _pronoun_cues(lib: Library) -> list[Cue]:
    out = []
    for gender, p in lib.pronouns.items():
        for form in {p["subj"], p["obj"], p["poss"], p["refl"]}:
            out += [Cue(form, "gender", gender, "pronoun"),
                    Cue(form.capitalize(), "gender", gender, "pronoun")]
    return out


def attribute_cues(root: Path | None = None) -> list[Cue]:
    """Every surface string that expresses a sensitive attribute level in generated queries.

    Match cues as whole words, case-sensitively (see :func:`match_cues`). A full name gives
    two cues (race and gender); a first name is a cue only when it belongs to one
    race x gender cell across all name lists and is not an ordinary word or a surname.
    """
    lib = load_library(root)
    out: list[Cue] = []
    seen: set[tuple[str, str]] = set()
    for cells in lib.names.values():
        for (race, gender), names in cells.items():
            for n in names:
                if (n, race) not in seen:
                    seen.add((n, race))
                    out += [Cue(n, "race", race, "name"), Cue(n, "gender", gender, "name")]
    for first, (race, gender) in sorted(lib.first_name_cues.items()):
        out += [Cue(first, "race", race, "name"), Cue(first, "gender", gender, "name")]
    for axis in ("race", "gender", "age", "religion", "disability"):
        for value, phrase in lib.explicit_levels(axis).items():
            text = "nonbinary" if phrase == "nonbinary person" else phrase
            out.append(Cue(text, axis, value, "explicit"))
    out += _pronoun_cues(lib)
    for pair in lib.dialect.values():
        for value, markers in pair["markers"].items():
            out += [Cue(m, "dialect", value, "dialect") for m in markers]
    return out


_TOKEN = re.compile(r"[\w'-]+")


class CueMatcher:
    """Finds cues in text as whole tokens (runs of letters, digits, ' and -), longest first."""

    def __init__(self, cues: list[Cue] | tuple[Cue, ...]):
        self.cues = cues
        self.by_text: dict[str, list[Cue]] = defaultdict(list)
        for c in cues:
            self.by_text[c.text].append(c)
        first: dict[str, set[int]] = defaultdict(set)
        for t in self.by_text:
            toks = _TOKEN.findall(t)
            first[toks[0]].add(len(toks))
        self.lengths = {k: sorted(v, reverse=True) for k, v in first.items()}

    def find(self, text: str) -> list[Cue]:
        """Every cue occurrence, left to right (a longer cue hides the shorter ones inside it)."""
        toks = [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(text)]
        out: list[Cue] = []
        i = 0
        while i < len(toks):
            for n in self.lengths.get(toks[i][2], ()):
                if i + n <= len(toks):
                    hit = self.by_text.get(text[toks[i][0]:toks[i + n - 1][1]])
                    if hit:
                        out += hit
                        i += n
                        break
            else:
                i += 1
        return out

    def match(self, text: str) -> dict[str, set[str]]:
        """axis -> values expressed in ``text``."""
        found: dict[str, set[str]] = defaultdict(set)
        for c in self.find(text):
            found[c.axis].add(c.value)
        return dict(found)


@lru_cache(maxsize=8)
def cue_matcher(root: Path | None = None) -> CueMatcher:
    """A cached matcher over :func:`attribute_cues` (use it when matching many texts)."""
    return CueMatcher(tuple(attribute_cues(root)))


_MATCHERS: dict[int, CueMatcher] = {}


def match_cues(text: str, cues: list[Cue] | tuple[Cue, ...]) -> dict[str, set[str]]:
    """Attribute levels a text expresses: axis -> values whose cues occur as whole words.

    Case-sensitive; a cue matches only whole tokens ("he" never matches inside "the").

    >>> cs = [Cue("she", "gender", "female", "pronoun"), Cue("he", "gender", "male", "pronoun")]
    >>> match_cues("Then she left.", cs)
    {'gender': {'female'}}
    """
    m = _MATCHERS.get(id(cues))
    if m is None or m.cues is not cues:
        if len(_MATCHERS) > 16:
            _MATCHERS.clear()
        m = _MATCHERS[id(cues)] = CueMatcher(cues)
    return m.match(text)
