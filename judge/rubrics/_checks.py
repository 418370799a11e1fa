"""Cross-field checks on a rubric document (raw YAML data or a model dump).

Each problem carries the field path it is about, so the linter can point at the line, and
an optional position inside a template string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from judge.rubrics._schema import MODES
from judge.rubrics._semver import is_semver, semver_key
from judge.rubrics._template import (
    TemplateProblem,
    parse_template,
    position_of,
    template_variables,
    undeclared,
    unsafe_access,
)


@dataclass(frozen=True)
class Problem:
    """One defect: ``loc`` is a field path; ``offset`` a (line, col) inside a template."""

    loc: tuple[Any, ...]
    message: str
    offset: tuple[int, int] | None = None


def semantic_problems(data: dict[str, Any]) -> list[Problem]:
    """Every cross-field defect: duplicates, changelog, mode needs, template defects."""
    if not isinstance(data, dict):
        return []
    return [*_duplicate_criteria(data), *_changelog(data), *_mode_needs(data),
            *_prompt(data)]


def _duplicate_criteria(data: dict[str, Any]) -> list[Problem]:
    crit = data.get("criteria")
    if not isinstance(crit, list):
        return []
    seen: dict[str, int] = {}
    out = []
    for i, c in enumerate(crit):
        cid = c.get("id") if isinstance(c, dict) else None
        if not isinstance(cid, str):
            continue
        if cid in seen:
            out.append(Problem(("criteria", i, "id"), f"duplicate criterion id {cid!r} (first "
                               f"used by criteria[{seen[cid]}]); criterion ids must be unique"))
        else:
            seen[cid] = i
    return out


def _changelog(data: dict[str, Any]) -> list[Problem]:
    version, log = data.get("version"), data.get("changelog")
    if not (isinstance(version, str) and is_semver(version) and isinstance(log, dict)):
        return []
    out = []
    if version not in log:
        out.append(Problem(("changelog",), f"no entry for version {version}; say what changed "
                           "in this version"))
    newer = [k for k in log if isinstance(k, str) and is_semver(k)
             and semver_key(k) > semver_key(version)]
    if newer:
        out.append(Problem(("changelog", newer[0]), f"entry {newer[0]} is newer than the "
                           f"rubric's version {version}"))
    return out


def _mode_needs(data: dict[str, Any]) -> list[Problem]:
    mode = data.get("mode", "pointwise")
    crit = data.get("criteria")
    if mode == "pointwise" and (crit is None or crit == []):
        return [Problem(("criteria",) if crit is not None else (),
                        "a pointwise rubric needs at least one criterion")]
    return []


def _prompt(data: dict[str, Any]) -> list[Problem]:
    prompt = data.get("prompt")
    if isinstance(prompt, str):
        prompt = {"user": prompt}
    if not isinstance(prompt, dict):
        return []
    mode = data.get("mode", "pointwise")
    known = template_variables(mode if mode in MODES else "pointwise")
    tvars = prompt.get("vars") if isinstance(prompt.get("vars"), dict) else {}
    known |= {k for k in tvars if isinstance(k, str)}
    out: list[Problem] = []
    used: set[str] = set()
    for role in ("system", "user"):
        source = prompt.get(role)
        if not isinstance(source, str):
            continue
        loc = ("prompt", role) if "user" in prompt and isinstance(data.get("prompt"), dict) \
            else ("prompt",)
        ast, syntax = parse_template(source)
        if syntax:
            out.append(_at(loc, syntax))
            continue
        names = undeclared(ast)
        used |= names
        out += [_at(loc, p) for p in unsafe_access(ast, source)]
        for name in sorted(names - known):
            line, col = position_of(source, name)
            out.append(_at(loc, TemplateProblem(
                f"template variable {name!r} is undefined; available: "
                f"{', '.join(sorted(known))}", line, col)))
        if role == "user" and not names & {"response", "responses"}:
            hint = "{{ response }}" if mode == "pointwise" else "a loop over {{ responses }}"
            out.append(Problem(loc, f"the prompt never shows the response; add {hint}"))
    if isinstance(prompt.get("user"), str) and not used & {"criteria", "output_format"} and \
            not any(p.message.startswith("template syntax") for p in out):
        out.append(Problem(("prompt",), "the prompt never shows the criteria or the output "
                           "format; add {{ output_format }} (and usually {{ criteria }})"))
    builtin = template_variables(mode if mode in MODES else "pointwise") | {"response"}
    for name in tvars:
        if name in builtin:
            out.append(Problem(("prompt", "vars", name), f"prompt.vars entry {name!r} clashes "
                               "with the built-in template variable of that name; rename it"))
        elif name not in used and not any(p.message.startswith("template syntax") for p in out):
            out.append(Problem(("prompt", "vars", name), f"template variable {name!r} is "
                               "defined in prompt.vars but never used"))
    return out


def _at(loc: tuple[Any, ...], p: TemplateProblem) -> Problem:
    return Problem(loc, p.message, (p.line, p.col))
