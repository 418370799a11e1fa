"""Validate one rubric document and turn every defect into a located ``file:line:col`` error."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from judge.config import check_expansion
from judge.rubrics._checks import Problem, semantic_problems
from judge.rubrics._model import (
    FRAMEWORKS,
    SKIP_SEMANTIC,
    BinaryScale,
    CategoricalScale,
    Criterion,
    LikertScale,
    PromptSpec,
    Rubric,
)
from judge.rubrics._semver import is_semver

_SCALE_TAGS = {"likert", "binary", "categorical"}
KNOWN_KEYS = sorted({*Rubric.model_fields, *Criterion.model_fields, *LikertScale.model_fields,
                     *BinaryScale.model_fields, *CategoricalScale.model_fields,
                     *PromptSpec.model_fields})


@dataclass(frozen=True, order=True)
class LintError:
    """One defect at a 1-based line and column of a file."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


def _mark(node: yaml.Node | None) -> tuple[int, int]:
    if node is None:
        return 1, 1
    return node.start_mark.line + 1, node.start_mark.column + 1


def locate(root: yaml.Node | None, loc: tuple[Any, ...], *, key: bool = False,
           parent: bool = False) -> tuple[yaml.Node | None, yaml.Node | None]:
    """The (key node, value node) a field path points to; missing parts stop the walk."""
    parts = [p for i, p in enumerate(loc) if p != "[key]"
             and not (p in _SCALE_TAGS and i and loc[i - 1] == "scale")]
    if parent:
        parts = parts[:-1]
    key_node, node = None, root
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            hit = next(((k, v) for k, v in node.value if str(k.value) == str(part)), None)
            if hit is None:
                break
            key_node, node = hit
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            key_node, node = None, node.value[part]
        else:
            break
    return key_node, node


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if part == "[key]" or (part in _SCALE_TAGS and i and loc[i - 1] == "scale"):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def pydantic_message(e: dict[str, Any]) -> str:
    """A rubric author's wording of one pydantic error."""
    t, loc, inp = e["type"], tuple(e["loc"]), e.get("input")
    last = loc[-1] if loc else ""
    if t == "missing":
        return f"missing required key {last!r}"
    if t == "extra_forbidden":
        close = difflib.get_close_matches(str(last), KNOWN_KEYS, n=1, cutoff=0.75)
        return f"unknown key {last!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    if t == "literal_error" and "frameworks" in loc:
        return f"unknown framework tag {inp!r}; use one of: {', '.join(FRAMEWORKS)}"
    if t == "literal_error":
        return f"{inp!r} is not allowed; expected {e['ctx']['expected']}"
    if t == "union_tag_invalid":
        return f"unknown scale type {e['ctx']['tag']!r}; use likert, binary or categorical"
    if t == "union_tag_not_found":
        return "the scale needs a type: likert, binary or categorical"
    if t == "value_error":
        return str(e["msg"]).removeprefix("Value error, ")
    if t == "string_type" and isinstance(inp, bool):
        return f"YAML read this as the boolean {str(inp).lower()}; quote it to make it text"
    if t == "string_type" and isinstance(inp, (int, float)):
        return f"expected text, got the number {inp!r}; quote it (e.g. \"{inp}\")"
    if t == "string_pattern_mismatch":
        return (f"{inp!r} is not a valid id; use snake_case (lowercase letters, digits and _, "
                "starting with a letter)")
    if t == "too_short" and isinstance(inp, (list, str)):
        return "must not be empty"
    got = f" (got {inp!r})" if not isinstance(inp, (dict, list)) else ""
    return f"{e['msg']}{got}"[:300]


def _pydantic_errors(err: ValidationError, tree: yaml.Node | None, path: str) -> list[LintError]:
    out = []
    for e in err.errors():
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden":
            k, v = locate(tree, loc)
            line, col = _mark(k or v)
            fpath = _field_path(loc[:-1])
        elif e["type"] == "missing":
            _, v = locate(tree, loc, parent=True)
            line, col = _mark(v)
            fpath = _field_path(loc[:-1])
        else:
            _, v = locate(tree, loc)
            line, col = _mark(v)
            fpath = _field_path(loc)
        msg = pydantic_message(e)
        out.append(LintError(path, line, col, f"{fpath}: {msg}" if fpath else msg))
    return out


def _template_position(text: str, node: yaml.Node, offset: tuple[int, int]) -> tuple[int, int]:
    """File position of (line, col) inside the scalar ``node``."""
    tline, tcol = offset
    style = getattr(node, "style", None)
    if style in ("|", ">"):
        lines = text.splitlines()
        idx = node.start_mark.line + tline
        indent = len(lines[idx]) - len(lines[idx].lstrip(" ")) if idx < len(lines) else 0
        return idx + 1, indent + tcol
    quote = 1 if style in ('"', "'") else 0
    if tline == 1:
        return node.start_mark.line + 1, node.start_mark.column + quote + tcol
    return node.start_mark.line + tline, tcol


def _problem_error(p: Problem, tree: yaml.Node | None, text: str, path: str) -> LintError:
    k, v = locate(tree, p.loc)
    if p.offset and isinstance(v, yaml.ScalarNode):
        line, col = _template_position(text, v, p.offset)
    else:
        line, col = _mark(k if len(p.loc) >= 3 and p.loc[-2] == "vars" else v)
    fpath = _field_path(p.loc)
    return LintError(path, line, col, f"{fpath}: {p.message}" if fpath else p.message)


def duplicate_keys(node: yaml.Node | None, path: str) -> list[LintError]:
    """Keys given twice in one mapping (YAML would silently keep the last)."""
    out: list[LintError] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Node] = {}
        for k, v in node.value:
            name = str(k.value)
            if name in seen:
                line, col = _mark(k)
                out.append(LintError(path, line, col, f"duplicate key {name!r} (first at line "
                                     f"{seen[name].start_mark.line + 1}); YAML would silently "
                                     "keep only the last"))
            else:
                seen[name] = k
            out += duplicate_keys(v, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            out += duplicate_keys(item, path)
    return out


def _layout(data: dict[str, Any], tree: yaml.Node | None, path: Path) -> list[LintError]:
    """A file named ``<semver>.yaml`` must hold that version, in a folder named for its id."""
    if not is_semver(path.stem):
        return []
    out = []
    version, rid = data.get("version"), data.get("id")
    if isinstance(version, str) and version != path.stem:
        line, col = _mark(locate(tree, ("version",))[1])
        out.append(LintError(str(path), line, col, f"version: file is named {path.name} but "
                             f"holds version {version}; name the file {version}.yaml"))
    if isinstance(rid, str) and rid != path.parent.name:
        line, col = _mark(locate(tree, ("id",))[1])
        out.append(LintError(str(path), line, col, f"id: {rid!r} lives in folder "
                             f"{path.parent.name!r}; put it under {rid}/"))
    return out


def check_text(text: str, path: Path) -> tuple[Rubric | None, list[LintError]]:
    """Validate one rubric file's text: the rubric (if valid) and every defect found."""
    p = str(path)
    try:
        tree = yaml.compose(text)
        check_expansion(tree)  # refuse alias bombs before anything walks the data
        data = yaml.safe_load(text)
    except RecursionError:
        return None, [LintError(p, 1, 1, "invalid YAML: nested too deeply")]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        ctx, cmark = getattr(err, "context", None), getattr(err, "context_mark", None)
        if ctx and cmark and cmark.line + 1 != line:
            problem += f" ({ctx} started at line {cmark.line + 1})"
        return None, [LintError(p, line, col, f"invalid YAML: {problem}")]
    errors = duplicate_keys(tree, p)
    if not isinstance(data, dict):
        return None, [*errors, LintError(p, 1, 1, "a rubric file must be a YAML mapping with "
                                         "id, version, title, ... (see rubrics/README.md)")]
    rubric = None
    try:
        rubric = Rubric.model_validate(data, context={SKIP_SEMANTIC: True})
    except ValidationError as err:
        errors += _pydantic_errors(err, tree, p)
    errors += [_problem_error(pr, tree, text, p) for pr in semantic_problems(data)]
    errors += _layout(data, tree, path)
    errors = sorted(set(errors))
    return (None if errors else rubric), errors
