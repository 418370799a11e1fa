"""``judge run|generate|score CONFIG``: stages of a config, and what every command that runs
stages shares (:func:`run_stages_command`)."""

from __future__ import annotations

import sys

import typer

from judge._cli.common import SetOpt, guard, load_run_config
from judge._cli.ray_options import AddressOpt, ExecutorOpt, ShardsOpt, WorkersOpt
from judge.executors.options import apply_executor_overrides
from judge.pipeline import check_force, needs_keys, open_run, run_stages

ForceOpt = typer.Option(None, "--force", help="Redo a stage: queries, generate, score, calibrate.")
ProgressOpt = typer.Option(True, "--progress/--no-progress", help="Show a progress bar.")
RetryOpt = typer.Option(False, "--retry-errors", help="Also retry non-retryable error records.")


def run(config: str = typer.Argument(..., help="Run config YAML."), force: list[str] = ForceOpt,
        progress: bool = ProgressOpt, retry_errors: bool = RetryOpt,
        executor: str = ExecutorOpt, address: str = AddressOpt, shards: int = ShardsOpt,
        workers: int = WorkersOpt, sets: list[str] = SetOpt) -> None:
    """Run every stage: generate, score, calibrate, report (resumes where it stopped)."""
    run_stages_command(config, ["generate", "score", "calibrate", "report"], force, progress,
                       retry_errors, executor, address, shards, workers, sets)


def generate(config: str = typer.Argument(..., help="Run config YAML."),
             force: list[str] = ForceOpt, progress: bool = ProgressOpt,
             retry_errors: bool = RetryOpt, executor: str = ExecutorOpt,
             address: str = AddressOpt, shards: int = ShardsOpt, workers: int = WorkersOpt,
             sets: list[str] = SetOpt) -> None:
    """Expand queries and answer them with the generator models."""
    run_stages_command(config, ["generate"], force, progress, retry_errors, executor, address,
                       shards, workers, sets)


def score(config: str = typer.Argument(..., help="Run config YAML."),
          force: list[str] = ForceOpt, progress: bool = ProgressOpt,
          retry_errors: bool = RetryOpt, executor: str = ExecutorOpt, address: str = AddressOpt,
          shards: int = ShardsOpt, workers: int = WorkersOpt, sets: list[str] = SetOpt) -> None:
    """Score generations with the judge models and rubrics."""
    run_stages_command(config, ["score"], force, progress, retry_errors, executor, address,
                       shards, workers, sets)


def run_stages_command(config: str, stages: list[str], force: list[str] | None, progress: bool,
                       retry_errors: bool = False, executor: str | None = None,
                       address: str | None = None, shards: int | None = None,
                       workers: int | None = None, sets: list[str] | None = None) -> None:
    """Run ``stages`` of a config (with ``--set`` overrides) and print each stage's counts."""
    def go() -> None:
        cfg = load_run_config(config, sets)
        if executor or address or shards or workers:
            cfg = apply_executor_overrides(cfg, executor, address, shards, workers)
        check_force(force)
        ctx = open_run(cfg, progress=progress and sys.stderr.isatty(), retry_errors=retry_errors,
                       check_keys=needs_keys(stages))
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
