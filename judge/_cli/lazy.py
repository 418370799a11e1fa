"""A click group that imports a command's module only when that command runs.

The documented click pattern for lazy subcommands (``get_command``/``list_commands``
overridden), on typer's group class: ``judge --help`` lists every command from the
one-line help kept in the registry, and ``judge plan`` imports ``judge._cli.plan`` (and what
it imports at top level) but not the modules of the other commands. So the command modules
import the library at module top level and start-up stays fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Lazy:
    """A command (``module.attr`` is a function) or a group (a :class:`typer.Typer`),
    with the one line ``judge --help`` shows for it."""

    module: str
    attr: str
    help: str
    group: bool = False


class LazyGroup(TyperGroup):
    """Typer's group with the commands of :attr:`lazy` imported on first use."""

    lazy: dict[str, Lazy] = {}
    order: tuple[str, ...] = ()  # eager commands among the lazy ones, in listing order

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        """Commands in registry order, then plugin commands, then groups (typer's order)."""
        eager = [n for n in self.commands if n not in self.lazy]
        named = [n for n in self.order if n in self.lazy and not self.lazy[n].group
                 or n in eager]
        plugins = [n for n in eager if n not in named]
        groups = [n for n in self.order if n in self.lazy and self.lazy[n].group]
        return named + plugins + groups

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        spec = self.lazy[cmd_name]
        if self._listing:  # the listing needs a name and a line, not the module
            return TyperCommand(cmd_name, help=spec.help)
        self.commands[cmd_name] = load(cmd_name, spec)
        return self.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def load(name: str, spec: Lazy) -> Any:
    """Import ``spec``'s module and make its command or group as ``app.command(name)`` or
    ``app.add_typer(group, name=name, help=spec.help)`` would have."""
    obj = getattr(importlib.import_module(spec.module), spec.attr)
    holder = typer.Typer()
    if spec.group:
        holder.add_typer(obj, name=name, help=spec.help)
    else:
        holder.command(name=name)(obj)
    return typer.main.get_group(holder).commands[name]
