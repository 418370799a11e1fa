"""What every CLI command shares: the one error guard, and running stages of a config."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import typer


def guard(fn: Callable[[], Any]) -> Any:
    """Run ``fn``; turn JudgeError into one line on stderr and its exit code."""
    from judge.config import redact
    from judge.errors import JudgeError

    try:
        return fn()
    except JudgeError as err:
        typer.secho(f"error: {redact(err.one_line())}", fg="red", err=True)
        raise typer.Exit(err.exit_code) from None
    except KeyboardInterrupt:
        typer.secho("interrupted: re-run the same command to resume", fg="yellow", err=True)
        raise typer.Exit(130) from None


def run_stages_command(config: str, stages: list[str], force: list[str] | None, progress: bool,
            retry_errors: bool = False, executor: str | None = None,
            address: str | None = None, shards: int | None = None,
            workers: int | None = None) -> None:
    def go() -> None:
        from judge.config import load_config
        from judge.pipeline import check_force, open_run, run_stages

        cfg = load_config(config)
        if executor or address or shards or workers:
            from judge.executors.options import apply_executor_overrides

            cfg = apply_executor_overrides(cfg, executor, address, shards, workers)
        check_force(force)
        ctx = open_run(cfg, progress=progress and sys.stderr.isatty(), retry_errors=retry_errors)
        results = run_stages(ctx, stages, force)
        for name, r in results.items():
            typer.echo(f"{name:>9}: planned {r['planned']}, skipped {r['skipped']}, "
                       f"written {r['written']}, errors {r['errors']} ({r['seconds']:.1f}s)")
            dups = (r.get("extra") or {}).get("duplicate_query_ids")
            if dups:
                typer.secho(f"warning: {dups} duplicate query id(s) in the query source: each "
                            "id is called once", fg="yellow", err=True)
            if r.get("stopped"):
                typer.secho(f"stopped: {r['stopped']}. Raise the cap and re-run to resume.",
                            fg="yellow", err=True)
        if "report" in results:
            for f in ("report.html", "report.md"):
                p = ctx.store.dir / f
                if p.exists():
                    typer.echo(f"report: {p}")
    guard(go)
