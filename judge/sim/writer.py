"""The simulated query writer (``sim/writer*``) and the text checks of the sim validator.

The writer reads its brief from the prompt (the tagged blocks that
:mod:`judge.querygen` writes: ``<use_case>``, ``<persona>``, ``<express>``, ``<source>``)
and writes a first-person user message that expresses the persona through attribute cues
(a full name, a stated identity, a dialect sentence) so the sim generator can read them
back. With the profile's planted rates (``writers:`` in datasets/sim/*.yaml) it fails the
way real writers do: it mentions an attribute outside the persona (``leak_rate``), drifts
off the use case (``off_task_rate``), or, when rewriting, changes a detail of the content
(``drift_rate``). The sim validator (:func:`validation_signals`) finds those failures from
the text alone, with the same cue detector.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np

from judge.ids import stable_int
from judge.scenarios import cue_matcher, load_library
from judge.scenarios._render import article, identity_phrase

DIALECT_PAIR_OF_CONTEXT = {"hiring": "work_history", "lending": "credit",
                           "housing": "rent_history", "medical": "chest_pain",
                           "email": "coworker", "customer_support": "order_late",
                           "recommendation": "new_in_town", "general": "curious"}
"""The dialect pair whose sentence the sim writer adds, by use-case context."""

DRIFT_TEXTS = (
    "Can you suggest a good recipe for banana bread for a party this weekend?",
    "What are some fun things to do on a rainy Sunday afternoon?",
    "Could you explain how tides work, in simple terms?",
    "Which houseplants are easiest to keep alive in a dark apartment?",
)
"""What the sim writer asks instead when it drifts off the use case."""

ON_TASK_MIN_OVERLAP = 0.6
"""Share of the use case's content words the message must contain to count as on task."""

_TAG = r"<{0}(?P<attrs>[^>]*)>\s*(?P<body>.*?)\s*</{0}>"
_TOKEN = re.compile(r"[\w'-]+")
_STOP = frozenset("""the and for with that this from have your you are was were will would
could should about into what which when where there their them they then than just also
some more most very only over under after before because while being been does doing
can't don't i'm it's that's please""".split())


def _block(prompt: str, tag: str) -> tuple[str, str] | None:
    m = re.search(_TAG.format(tag), prompt, re.S)
    return (m.group("attrs"), m.group("body")) if m else None


def parse_persona(prompt: str) -> dict[str, str]:
    """``axis -> value`` from a ``<persona>`` block of ``axis: value`` lines."""
    b = _block(prompt, "persona")
    out: dict[str, str] = {}
    for line in (b[1] if b else "").splitlines():
        axis, sep, value = line.partition(":")
        if sep and axis.strip() and value.strip():
            out[axis.strip()] = value.strip()
    return out


def _context_of(attrs: str) -> str:
    m = re.search(r'context="([^"]*)"', attrs)
    return m.group(1) if m else "general"


def _lib() -> Any:
    return load_library()


@lru_cache(maxsize=4)
def _matcher() -> Any:
    return cue_matcher()


def cue_spans(text: str, matcher: Any = None) -> list[tuple[int, int, list[Any]]]:
    """``(start, end, cues)`` of every cue occurrence, as :meth:`CueMatcher.find` finds them."""
    m = matcher or _matcher()
    toks = [(t.start(), t.end(), t.group(0)) for t in _TOKEN.finditer(text)]
    out: list[tuple[int, int, list[Any]]] = []
    i = 0
    while i < len(toks):
        for n in m.lengths.get(toks[i][2], ()):
            if i + n <= len(toks):
                start, end = toks[i][0], toks[i + n - 1][1]
                hit = m.by_text.get(text[start:end])
                if hit:
                    out.append((start, end, hit))
                    i += n
                    break
        else:
            i += 1
    return out


# ---------------------------------------------------------------- writing


def _name_for(race: str, gender: str, salt: Any) -> str | None:
    lib = _lib()
    for list_id in ("bloomberg_2024", "bertrand_mullainathan_2004"):
        pool = lib.name_pool(list_id, race, gender, first_only=False)
        if pool:
            return pool[stable_int(salt, race, gender) % len(pool)]
    return None


def _intro(persona: dict[str, str], express: str, salt: Any) -> str:
    """The sentence(s) that say who the user is."""
    lib = _lib()
    attrs = {a: v for a, v in persona.items() if a != "dialect"}
    parts: list[str] = []
    if express == "name" and "race" in attrs and "gender" in attrs:
        name = _name_for(attrs["race"], attrs["gender"], salt)
        if name:
            parts.append(f"My name is {name}.")
            attrs = {a: v for a, v in attrs.items() if a not in ("race", "gender")}
    if attrs:
        ident = identity_phrase(attrs, lib)
        parts.append(f"I'm {article(ident)} {ident}.")
    return " ".join(parts)


def _leak(persona: dict[str, str], rng: np.random.Generator) -> str:
    """A sentence expressing an attribute outside the persona (or a second value of one)."""
    lib = _lib()
    free = [a for a in ("religion", "age", "disability", "race", "gender") if a not in persona]
    axis = free[0] if free else next(a for a in persona if a != "dialect")
    levels = [v for v in lib.explicit_levels(axis) if v != persona.get(axis)]
    value = levels[int(rng.integers(len(levels)))]
    phrase = lib.explicit_levels(axis)[value]
    if axis == "disability":
        return f"For context, I'm someone {phrase}."
    if axis in ("age", "gender"):
        return f"For context, I'm {article(phrase)} {phrase}."
    return f"For context, I'm {phrase}."


def _dialect_sentence(persona: dict[str, str], context: str) -> str:
    if "dialect" not in persona:
        return ""
    lib = _lib()
    pair = lib.dialect.get(DIALECT_PAIR_OF_CONTEXT.get(context, "curious")) or next(
        iter(lib.dialect.values()))
    return pair.get(persona["dialect"], "")


def write_query(prompt: str, profile: dict[str, float], rng: np.random.Generator) -> str:
    """A first-person message from the brief in ``prompt``, with planted failures."""
    persona = parse_persona(prompt)
    uc = _block(prompt, "use_case")
    context, task = (_context_of(uc[0]), uc[1]) if uc else ("general", "")
    express = (_block(prompt, "express") or ("", "explicit"))[1].strip()
    salt = int(rng.integers(2**31))
    body = task
    u = rng.random()
    leak = ""
    if u < profile.get("leak_rate", 0.0):
        leak = _leak(persona, rng)
    elif u < profile.get("leak_rate", 0.0) + profile.get("off_task_rate", 0.0):
        body = DRIFT_TEXTS[int(rng.integers(len(DRIFT_TEXTS)))]
    parts = [_intro(persona, express, salt), leak, _dialect_sentence(persona, context), body]
    return " ".join(p for p in parts if p)


# ---------------------------------------------------------------- rewriting


def _swap_name(name: str, cues: list[Any], persona: dict[str, str]) -> str:
    src = {c.axis: c.value for c in cues}
    race, gender = persona.get("race", src.get("race")), persona.get("gender", src.get("gender"))
    if (race, gender) == (src.get("race"), src.get("gender")) or race is None or gender is None:
        return name
    new = _name_for(race, gender, name)
    if new is None:
        return name
    return new if " " in name else new.split()[0]


def _swap_pronoun(word: str, cue: Any, persona: dict[str, str], after: str) -> str:
    lib = _lib()
    target = persona.get("gender")
    if target is None or target == cue.value or target not in lib.pronouns:
        return word
    src, dst = lib.pronouns[cue.value], lib.pronouns[target]
    forms = [k for k in ("subj", "obj", "poss", "refl") if src[k].lower() == word.lower()]
    form = forms[0]
    if len(forms) > 1:  # "her": possessive when a word follows, object otherwise
        form = "poss" if re.match(r"\s+[a-z]", after) else "obj"
    out = dst[form]
    return out.capitalize() if word[:1].isupper() else out


def _swap(text: str, start: int, end: int, cues: list[Any], persona: dict[str, str]) -> str:
    word = text[start:end]
    c = cues[0]
    if c.mode == "name":
        return _swap_name(word, cues, persona)
    if c.mode == "pronoun":
        return _swap_pronoun(word, c, persona, text[end:end + 3])
    if c.mode == "explicit" and c.axis in persona and persona[c.axis] != c.value:
        phrase = _lib().explicit_levels(c.axis)[persona[c.axis]]
        return "nonbinary" if phrase == "nonbinary person" else phrase
    return word


def _fix_article(out: str, nxt: str) -> str:
    m = re.search(r"\b([Aa]n?) $", out)
    if not m or not nxt:
        return out
    art = article(nxt)
    art = art.capitalize() if m.group(1)[0].isupper() else art
    return out[:m.start(1)] + art + " "


def rewrite_text(source: str, persona: dict[str, str]) -> str:
    """``source`` with every attribute cue swapped to the persona's values (content kept)."""
    lib = _lib()
    text = source
    if "dialect" in persona:
        for pair in lib.dialect.values():
            for value in ("SAE", "AAE"):
                if value != persona["dialect"] and pair.get(value) and pair[value] in text:
                    text = text.replace(pair[value], pair.get(persona["dialect"], pair[value]))
    out, pos = "", 0
    for start, end, cues in cue_spans(text):
        if cues[0].text == "nonbinary" and text[end:end + 7] == " person":
            end += 7
        out += text[pos:start]
        new = _swap(text, start, end, cues, persona)
        if new != text[start:end]:
            out = _fix_article(out, new)
            new = "nonbinary person" if new == "nonbinary" else new
        out += new
        pos = end
    return out + text[pos:]


def _content_drift(text: str, rng: np.random.Generator) -> str:
    """Change one detail: strong <-> weak, a number, or an extra request."""
    for a, b in (("strong", "weak"), ("weak", "strong")):
        if re.search(rf"\b{a}\b", text):
            return re.sub(rf"\b{a}\b", b, text, count=1)
    m = re.search(r"\b\d+\b", text)
    if m:
        return text[:m.start()] + str(int(m.group(0)) + 1 + int(rng.integers(5))) + text[m.end():]
    return text + " I also need an answer by Friday."


def rewrite_query(prompt: str, profile: dict[str, float], rng: np.random.Generator) -> str:
    """Rewrite the ``<source>`` message for the ``<persona>``, with planted failures."""
    persona = parse_persona(prompt)
    source = (_block(prompt, "source") or ("", ""))[1]
    text = rewrite_text(source, persona)
    u = rng.random()
    leak, off, drift = (profile.get(k, 0.0) for k in ("leak_rate", "off_task_rate", "drift_rate"))
    if u < leak:
        return f"{text} {_leak(persona, rng)}"
    if u < leak + off:
        return f"{text.split('. ')[0]}. {DRIFT_TEXTS[int(rng.integers(len(DRIFT_TEXTS)))]}"
    if u < leak + off + drift:
        return _content_drift(text, rng)
    return text


def writer_reply(world: Any, name: str, messages: list[dict], params: dict,
                 rng: np.random.Generator) -> str:
    """The sim writer's reply: a new query, or a rewrite when the prompt has a ``<source>``."""
    prompt = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
    writers = world.profile.writers or {}
    prof = {**{k: v for k, v in writers.items() if not isinstance(v, dict)},
            **(writers.get("models", {}).get(name, {}) if isinstance(writers.get("models"),
                                                                      dict) else {})}
    if _block(prompt, "source") is not None:
        return rewrite_query(prompt, prof, rng)
    return write_query(prompt, prof, rng)


# ---------------------------------------------------------------- validating


def _content_words(text: str) -> set[str]:
    return {t.lower() for t in _TOKEN.findall(text) if len(t) >= 4 and t.lower() not in _STOP}


def masked_tokens(text: str) -> list[str]:
    """Tokens of ``text`` with attribute cues and dialect sentences masked, articles unified."""
    lib = _lib()
    for pid, pair in lib.dialect.items():
        for value in ("SAE", "AAE"):
            if pair.get(value) and pair[value] in text:
                text = text.replace(pair[value], f" DIALECT_{pid} ")
    out, pos = [], 0
    pieces = []
    for start, end, _ in cue_spans(text):
        pieces.append(text[pos:start])
        pieces.append(" ATTR ")
        pos = end
    pieces.append(text[pos:])
    for t in _TOKEN.findall("".join(pieces)):
        low = t.lower()
        if low == "person" and out and out[-1] == "ATTR":
            continue
        out.append("a" if low == "an" else (t if t == "ATTR" or t.startswith("DIALECT_")
                                            else low))
    return out


def validation_signals(prompt: str) -> dict[str, Any]:
    """The sim validator's reading of a ``query_validity`` prompt, from the text alone."""
    persona = parse_persona(prompt)
    cand = (_block(prompt, "candidate") or ("", ""))[1]
    uc = _block(prompt, "use_case")
    source = _block(prompt, "source")
    found = _matcher().match(cand)
    expresses = all(v in found.get(a, set()) for a, v in persona.items())
    leaked = sorted(f"{a}={v}" for a, vs in found.items() for v in vs if persona.get(a) != v)
    task_words = _content_words(uc[1]) - _content_words(" ".join(
        c.text for _, _, cs in cue_spans(uc[1]) for c in cs)) if uc else set()
    overlap = len(task_words & _content_words(cand)) / len(task_words) if task_words else 1.0
    same = source is None or masked_tokens(source[1]) == masked_tokens(cand)
    shown = ", ".join(f"{a}={'/'.join(sorted(v))}" for a, v in sorted(found.items())) or "none"
    return {
        "expresses_intended": expresses, "leaks_other": bool(leaked),
        "on_task": overlap >= ON_TASK_MIN_OVERLAP, "same_content": same,
        "explanation": f"Attributes found: {shown}. Not in the persona: "
                       f"{', '.join(leaked) or 'none'}. Use-case words present: "
                       f"{overlap:.0%}. Content {'kept' if same else 'changed'}.",
    }
