"""Render the sensitive slots of a template for one attribute cell (and one name)."""

from __future__ import annotations

from judge.scenarios._attributes import Library
from judge.scenarios._model import IDENTITY_ORDER, Template


def article(phrase: str) -> str:
    """"a" or "an" for an identity phrase.

    >>> article("Asian man"), article("18-year-old woman"), article("80-year-old"), article("Black")
    ('an', 'an', 'an', 'a')
    """
    head = phrase.split("-")[0].split(" ")[0]
    if head.isdigit():
        return "an" if head.startswith("8") or head in ("11", "18") else "a"
    return "an" if head[:1].lower() in "aeiou" else "a"


def identity_phrase(attrs: dict[str, str], lib: Library) -> str:
    """E.g. "38-year-old Black Muslim woman who uses a wheelchair" for the axes present."""
    words: list[str] = []
    for axis in IDENTITY_ORDER:
        if axis == "gender":
            words.append(lib.gender_noun[attrs["gender"]] if "gender" in attrs else "person")
        elif axis in attrs:
            words.append(lib.explicit_levels(axis)[attrs[axis]])
    return " ".join(words)


def surface(tpl: Template, attrs: dict[str, str], name: str | None,
            lib: Library) -> dict[str, str]:
    """Values of the template's sensitive slots for one cell."""
    out: dict[str, str] = {}
    sens = tpl.sensitive
    if name is not None:
        first, _, last = name.partition(" ")
        out.update(name=name, first_name=first, last_name=last)
    if "gender" in attrs and attrs["gender"] in lib.pronouns:
        p = lib.pronouns[attrs["gender"]]
        out.update({k: p[k] for k in ("subj", "obj", "poss", "refl", "is", "has", "was")})
        out.update(Subj=p["subj"].capitalize(), Obj=p["obj"].capitalize(),
                   Poss=p["poss"].capitalize())
    for axis in ("race", "gender", "age", "religion", "disability"):
        if axis in sens:
            out[axis] = lib.explicit_levels(axis)[attrs[axis]]
    if sens & {"identity", "a_identity", "A_identity"}:
        ident = identity_phrase(attrs, lib)
        art = article(ident)
        out.update(identity=ident, a_identity=f"{art} {ident}",
                   A_identity=f"{art.capitalize()} {ident}")
    for slot in sens:
        if slot.startswith("dialect_"):
            out[slot] = lib.dialect[slot[8:]][attrs["dialect"]]
    return {k: v for k, v in out.items() if k in sens}
