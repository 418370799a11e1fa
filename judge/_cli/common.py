"""What every CLI command shares: the one error guard, config loading with ``--set``
overrides, and running stages of a config."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
import yaml

from judge.config import RunConfig, load_config, load_yaml, redact
from judge.errors import JudgeError, UsageError

SetOpt = typer.Option(None, "--set", metavar="KEY=VALUE",
                      help="Override one config setting for this invocation, e.g. --set "
                           "queries.limit=2 or --set generators.0.samples=1 (the value is "
                           "YAML; repeatable). The run's manifest records the result.")


def guard(fn: Callable[[], Any]) -> Any:
    """Run ``fn``; turn JudgeError into one line on stderr and its exit code (2 for usage
    and config errors), and Ctrl-C into exit code 130. Every command runs through it."""
    try:
        return fn()
    except JudgeError as err:
        typer.secho(f"error: {redact(err.one_line())}", fg="red", err=True)
        raise typer.Exit(err.exit_code) from None
    except KeyboardInterrupt:
        typer.secho("interrupted: re-run the same command to resume", fg="yellow", err=True)
        raise typer.Exit(130) from None


def usage_error(message: str, **where: Any) -> Exception:
    """A :class:`~judge.errors.UsageError` (exit code 2) for a command to raise inside guard."""
    return UsageError(message, **where)


def _set(node: Any, keys: list[str], value: Any, pair: str) -> None:
    """Assign ``value`` at the dotted path ``keys`` (list items by index), creating mappings."""
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(node, list):
            if not (key.isdigit() and int(key) < len(node)):
                raise usage_error(f"{pair!r}: {'.'.join(keys[:i]) or 'the list'} has no item "
                                  f"{key!r}", field="--set",
                                  hint=f"use an index from 0 to {len(node) - 1}")
            key = int(key)  # type: ignore[assignment]
        elif not isinstance(node, dict):
            raise usage_error(f"{pair!r}: {'.'.join(keys[:i])} is not a mapping", field="--set")
        if last:
            node[key] = value
        else:
            if isinstance(node, dict) and node.get(key) is None:
                node[key] = {}
            node = node[key]


def apply_sets(data: dict[str, Any], pairs: list[str]) -> dict[str, Any]:
    """The top-level keys of ``data`` that ``--set KEY=VALUE`` pairs change, with the change.

    >>> apply_sets({"queries": {"limit": 120, "design": {"kind": "x"}}}, ["queries.limit=2"])
    {'queries': {'limit': 2, 'design': {'kind': 'x'}}}
    """
    out = copy.deepcopy(data)
    touched = []
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        keys = key.strip().split(".")
        if not sep or not all(keys):
            raise usage_error(f"{pair!r} is not KEY=VALUE", field="--set",
                              hint="e.g. --set queries.limit=2")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise usage_error(f"{pair!r}: the value is not valid YAML", field="--set") from err
        _set(out, keys, value, pair)
        touched.append(keys[0])
    return {k: out[k] for k in dict.fromkeys(touched)}


def load_run_config(config: str, sets: list[str] | None = None) -> RunConfig:
    """Load and validate a run config, with ``--set`` overrides applied before validation."""
    if not sets:
        return load_config(config)
    data, _ = load_yaml(Path(config))
    if not isinstance(data, dict):
        return load_config(config)  # raises the one-line error for a non-mapping
    return load_config(config, overrides=apply_sets(data, sets))
