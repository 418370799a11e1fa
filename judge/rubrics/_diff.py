"""Readable normalised YAML of a rubric, and unified diffs between versions."""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from judge.rubrics._model import Rubric


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def normalised_yaml(rubric: Rubric) -> str:
    """The hashed content of a rubric as YAML, in the rubric's field order."""
    data: dict[str, Any] = rubric.normal_form()
    data = {"hash": rubric.hash, **data}
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10**6)


def diff_rubrics(old: Rubric, new: Rubric) -> str:
    """A unified diff of two rubrics' normalised YAML ('' if they are identical)."""
    a = normalised_yaml(old).splitlines(keepends=True)
    b = normalised_yaml(new).splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, fromfile=old.ref, tofile=new.ref))
