"""Scenario YAML: the pydantic schema, and compilation into checked, ready-to-expand templates."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from judge.config import load_yaml, validation_error, yaml_line_of
from judge.errors import ConfigError, DataError
from judge.scenarios._attributes import AXES, NAME_LISTS, Library

Context = Literal["hiring", "lending", "housing", "medical", "email", "general",
                  "customer_support", "recommendation"]

NAME_SLOTS = frozenset({"name", "first_name", "last_name"})
PRONOUN_SLOTS = frozenset({"subj", "Subj", "obj", "Obj", "poss", "Poss", "refl", "is", "has",
                           "was"})
EXPLICIT_SLOTS = frozenset({"race", "gender", "age", "religion", "disability"})
IDENTITY_SLOTS = frozenset({"identity", "a_identity", "A_identity"})
IDENTITY_ORDER = ("age", "race", "religion", "gender", "disability")
MODE_RANK = {"name": 0, "explicit": 1, "dialect": 2, "pronoun": 3}
"""When one axis is expressed several ways, ``Query.expression`` names the first of these."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FillerSpec(_Spec):
    """A non-sensitive slot filler, optionally carrying ground truth (e.g. qualified: true)."""

    text: str = Field(min_length=1)
    ground_truth: dict[str, Any] = Field(default_factory=dict)


class AxisSpec(_Spec):
    """A sensitive axis: its levels and the reference level held fixed when not swapped."""

    levels: list[str]
    reference: str | None = None


class TemplateSpec(_Spec):
    id: str = Field("main", pattern=r"^[A-Za-z0-9_.-]+$")
    text: str = Field(min_length=1)
    system: str | None = None


class ScenarioSpec(_Spec):
    """One scenario file under datasets/scenarios/."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    version: str
    context: Context
    description: str = ""
    system: str | None = Field(None, description="Default system prompt of every template.")
    names: Literal["bloomberg_2024", "bertrand_mullainathan_2004"] = "bloomberg_2024"
    templates: list[TemplateSpec] = Field(min_length=1)
    slots: dict[str, list[str | FillerSpec]] = Field(default_factory=dict)
    axes: dict[str, AxisSpec | list[str]] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _str_version(cls, v: Any) -> Any:
        return str(v) if isinstance(v, (int, float)) else v


@dataclass(frozen=True)
class Filler:
    text: str
    ground_truth: dict[str, Any]


@dataclass
class Template:
    """A compiled template: its placeholders sorted into fill slots and sensitive slots."""

    id: str
    text: str
    system: str | None
    fill_slots: list[str]
    sensitive: frozenset[str]
    expression: dict[str, str]
    first_only: bool = False


@dataclass
class Scenario:
    """A checked scenario, ready for expansion."""

    id: str
    version: str
    context: str
    path: Path
    names: str
    axes: dict[str, list[str]]
    reference: dict[str, str]
    fillers: dict[str, list[Filler]]
    templates: list[Template] = field(default_factory=list)


class _Err:
    """Builds one-line DataErrors naming file, line, template and slot."""

    def __init__(self, path: Path, text: str):
        self.path, self.text = path, text

    def __call__(self, msg: str, loc: tuple[Any, ...] = (), *, template: str | None = None,
                 slot: str | None = None, hint: str | None = None) -> DataError:
        parts = ([f"template {template!r}"] if template else []) + (
            [f"slot {slot!r}"] if slot else [])
        return DataError(msg, path=self.path, line=yaml_line_of(self.text, loc) if loc else None,
                         field=", ".join(parts) or None, hint=hint)


def read_spec(path: Path) -> tuple[ScenarioSpec, str]:
    """Parse and validate one scenario file; every failure is a one-line DataError."""
    try:
        data, text = load_yaml(path)
    except ConfigError as err:
        raise DataError(err.message, path=err.path, line=err.line, col=err.col,
                        hint=err.hint) from err
    if isinstance(data, dict) and "template" in data and "templates" not in data:
        data = {**data, "templates": [{"id": "main", "text": data.pop("template")}]}
    if not isinstance(data, dict):
        raise DataError("a scenario must be a YAML mapping", path=path)
    try:
        return ScenarioSpec.model_validate(data), text
    except ValidationError as err:
        cfg_err = validation_error(err, path, text)
        raise DataError(cfg_err.message, path=path, line=cfg_err.line,
                        field=cfg_err.field) from err


def _placeholders(text: str, err: _Err, loc: tuple[Any, ...], tid: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise err(f"bad placeholder syntax: {e}", loc, template=tid,
                  hint="write {slot}; a literal brace is {{ or }}") from e
    out: list[str] = []
    for _, fname, spec, conv in parsed:
        if fname is None:
            continue
        if not fname.isidentifier() or spec or conv:
            raise err("unsupported placeholder", loc, template=tid, slot=fname or "{}",
                      hint="use a plain {slot_name}")
        if fname not in out:
            out.append(fname)
    return out


def _axes(spec: ScenarioSpec, err: _Err) -> tuple[dict[str, list[str]], dict[str, str]]:
    axes: dict[str, list[str]] = {}
    ref: dict[str, str] = {}
    for axis, a in spec.axes.items():
        a = a if isinstance(a, AxisSpec) else AxisSpec(levels=a)
        if axis not in AXES:
            raise err(f"unknown axis {axis!r}", ("axes", axis),
                      hint=f"known axes: {', '.join(AXES)}")
        if not a.levels:
            raise err(f"axis {axis!r} has an empty level list", ("axes", axis),
                      hint="list at least two levels")
        if len(set(a.levels)) != len(a.levels):
            raise err(f"axis {axis!r} lists a level twice", ("axes", axis))
        if a.reference is not None and a.reference not in a.levels:
            raise err(f"reference {a.reference!r} is not a level of axis {axis!r}",
                      ("axes", axis))
        axes[axis] = list(a.levels)
        ref[axis] = a.reference or a.levels[0]
    return axes, ref


def _fillers(spec: ScenarioSpec, err: _Err) -> dict[str, list[Filler]]:
    out: dict[str, list[Filler]] = {}
    for slot, items in spec.slots.items():
        if slot in NAME_SLOTS | PRONOUN_SLOTS | EXPLICIT_SLOTS | IDENTITY_SLOTS or \
                slot.startswith("dialect_"):
            raise err("slot name is reserved for a sensitive attribute", ("slots", slot),
                      slot=slot, hint="rename the slot")
        if not items:
            raise err("slot has no fillers", ("slots", slot), slot=slot)
        out[slot] = [Filler(i, {}) if isinstance(i, str) else Filler(i.text, i.ground_truth)
                     for i in items]
    return out


def compile_scenario(path: Path, lib: Library) -> Scenario:
    """Read a scenario file and check it fully: every error names file, template and slot."""
    spec, text = read_spec(path)
    err = _Err(path, text)
    axes, ref = _axes(spec, err)
    sc = Scenario(id=spec.id, version=spec.version, context=spec.context, path=path,
                  names=spec.names, axes=axes, reference=ref, fillers=_fillers(spec, err))
    for i, t in enumerate(spec.templates):
        loc = ("templates", i, "text")
        slots = _placeholders(t.text, err, loc, t.id)
        tpl = Template(id=t.id, text=t.text, system=t.system or spec.system,
                       fill_slots=[s for s in slots if s in sc.fillers],
                       sensitive=frozenset(s for s in slots if s not in sc.fillers),
                       expression={})
        _check_sensitive(sc, tpl, lib, err, loc)
        sc.templates.append(tpl)
    if len({t.id for t in sc.templates}) != len(sc.templates):
        raise err("two templates share an id", ("templates",))
    return sc


def _express(tpl: Template, axis: str, mode: str) -> None:
    cur = tpl.expression.get(axis)
    if cur is None or MODE_RANK[mode] < MODE_RANK[cur]:
        tpl.expression[axis] = mode


def _check_sensitive(sc: Scenario, tpl: Template, lib: Library, err: _Err,
                     loc: tuple[Any, ...]) -> None:
    """Map each sensitive slot to the axes it expresses; check every level can be rendered."""
    def need(axis: str, slot: str) -> None:
        if axis not in sc.axes:
            raise err(f"slot expresses axis {axis!r}, which the scenario does not declare", loc,
                      template=tpl.id, slot=slot, hint=f"add {axis} under axes:")

    def incomplete(slot: str, what: str) -> DataError:
        return err(f"the counterfactual group would be incomplete: {what}", loc,
                   template=tpl.id, slot=slot, hint="drop the level or change the expression")

    for slot in sorted(tpl.sensitive):
        if slot in NAME_SLOTS:
            need("race", slot)
            need("gender", slot)
            _express(tpl, "race", "name")
            _express(tpl, "gender", "name")
        elif slot in PRONOUN_SLOTS:
            need("gender", slot)
            _express(tpl, "gender", "pronoun")
            for g in sc.axes["gender"]:
                if g not in lib.pronouns:
                    raise incomplete(slot, f"no pronoun set for gender={g!r}")
        elif slot in EXPLICIT_SLOTS or slot in IDENTITY_SLOTS:
            axes = [slot] if slot in EXPLICIT_SLOTS else [a for a in IDENTITY_ORDER
                                                          if a in sc.axes]
            for axis in axes:
                need(axis, slot)
                _express(tpl, axis, "explicit")
                missing = [v for v in sc.axes[axis] if v not in lib.explicit_levels(axis)]
                if missing:
                    raise incomplete(slot, f"no explicit wording for {axis}={missing[0]!r}")
        elif slot.startswith("dialect_") and slot[8:] in lib.dialect:
            need("dialect", slot)
            _express(tpl, "dialect", "dialect")
            missing = [v for v in sc.axes["dialect"] if v not in lib.dialect[slot[8:]]]
            if missing:
                raise incomplete(slot, f"dialect pair {slot[8:]!r} has no {missing[0]!r} variant")
        else:
            raise err("undefined slot", loc, template=tpl.id, slot=slot,
                      hint="declare it under slots:, or use a sensitive slot such as {name}, "
                           "{identity}, {subj} or {dialect_<pair>}")
    if "race" in tpl.expression and tpl.expression.get("race") == "name":
        tpl.first_only = "first_name" in tpl.sensitive and "name" not in tpl.sensitive
        for race in sc.axes["race"]:
            for gender in sc.axes["gender"]:
                if not lib.name_pool(sc.names, race, gender, first_only=tpl.first_only):
                    raise incomplete("name", f"no names for race={race!r}, gender={gender!r} "
                                             f"in list {sc.names!r}")
    for axis in sc.axes:
        if axis not in tpl.expression:
            raise err(f"axis {axis!r} is declared but the template never expresses it", loc,
                      template=tpl.id, hint=f"add a slot such as {{{axis}}} or {{identity}}, "
                                            "or drop the axis")


__all__ = ["NAME_LISTS", "Scenario", "ScenarioSpec", "Template", "compile_scenario", "read_spec"]
