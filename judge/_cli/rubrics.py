"""``judge rubrics ...``: lint, lock, diff and show rubric files. Imports stay lazy."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from judge._cli.common import guard
from judge.rubrics import (
    diff_rubrics,
    lint_paths,
    list_rubrics,
    load_rubric,
    normalised_yaml,
    read_lock,
    write_lock,
)
from judge.rubrics._load import default_root

app = typer.Typer(help="Lint, lock, diff and show fairness rubrics (see rubrics/README.md).",
                  no_args_is_help=True)


@app.command("lint")
def lint(paths: list[Path] = typer.Argument(None, help="Rubric files or folders "  # noqa: B008
                                            "(default: the project's rubrics/)."),
         lock: Optional[Path] = typer.Option(None, help="Lock file (default: the nearest "  # noqa: UP045
                                             "rubrics.lock).")) -> None:
    """Report every defect as file:line:col: message. Exit code 2 if there is any."""
    targets = list(paths) if paths else [default_root()]
    errors = guard(lambda: lint_paths(targets, lock=lock))
    for e in errors:
        typer.echo(str(e))
    if errors:
        typer.echo(f"{len(errors)} error(s)", err=True)
        raise typer.Exit(2)


@app.command("lock")
def lock(root: Optional[Path] = typer.Option(None, help="Rubrics folder (default: "  # noqa: UP045
                                             "rubrics/)."),
         force: bool = typer.Option(False, help="Overwrite entries whose hash changed (only "
                                    "for versions never used in a run).")) -> None:
    """Add every rubric version to rubrics.lock (released versions must not change)."""
    before = guard(lambda: read_lock(root))
    after = guard(lambda: write_lock(root, force=force))
    added = sorted(set(after) - set(before))
    changed = sorted(r for r in before if before[r] != after.get(r))
    for ref in added:
        typer.echo(f"locked {ref} {after[ref]}")
    for ref in changed:
        typer.echo(f"re-locked {ref} {after[ref]} (was {before[ref]})")
    if not added and not changed:
        typer.echo(f"rubrics.lock is up to date ({len(after)} version(s))")


@app.command("diff")
def diff(rubric_id: str = typer.Argument(..., metavar="ID"),
         v1: str = typer.Argument(..., help="Old version."),
         v2: str = typer.Argument(..., help="New version."),
         root: Optional[Path] = typer.Option(None, help="Rubrics folder.")) -> None:  # noqa: UP045
    """Show what changed between two versions (unified diff of the normalised rubrics)."""
    old, new = guard(lambda: (load_rubric(f"{rubric_id}@{v1}", root),
                              load_rubric(f"{rubric_id}@{v2}", root)))
    text = diff_rubrics(old, new)
    typer.echo(text.rstrip("\n") if text else f"{old.ref} and {new.ref} are identical")


@app.command("show")
def show(ref: str = typer.Argument(..., help="id or id@version."),
         root: Optional[Path] = typer.Option(None, help="Rubrics folder.")) -> None:  # noqa: UP045
    """Print the normalised rubric (what is hashed), with its hash."""
    rubric = guard(lambda: load_rubric(ref, root))
    typer.echo(normalised_yaml(rubric).rstrip("\n"))


@app.command("list")
def list_(root: Optional[Path] = typer.Option(None, help="Rubrics folder.")) -> None:  # noqa: UP045
    """List every rubric version with mode, frameworks and hash."""
    def go() -> None:
        for ref in list_rubrics(root):
            r = load_rubric(ref, root)
            typer.echo(f"{ref:34} {r.mode:18} {r.hash[:12]}  {','.join(r.frameworks)}")
    guard(go)
