"""Command-line interface: a thin layer over the library (``judge --help``).

Every command lives in this file or in ``judge/_cli/`` and reports errors through
:func:`judge._cli.common.guard` (one line on stderr; exit code 2 for usage and config
errors, as for typer's own usage errors). Heavy modules (litellm, pandas, the stages) are
imported inside commands, so start-up stays fast.
"""

from __future__ import annotations

import typer

from judge._cli.common import SetOpt, guard, run_stages_command, usage_error
from judge._cli.ray_options import AddressOpt, ExecutorOpt, ShardsOpt, WorkersOpt

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Context-specific fairness evaluation of LLMs, with calibrated judges.")

ForceOpt = typer.Option(None, "--force", help="Redo a stage: queries, generate, score, calibrate.")
ProgressOpt = typer.Option(True, "--progress/--no-progress", help="Show a progress bar.")
RetryOpt = typer.Option(False, "--retry-errors", help="Also retry non-retryable error records.")


@app.command()
def run(config: str = typer.Argument(..., help="Run config YAML."), force: list[str] = ForceOpt,
        progress: bool = ProgressOpt, retry_errors: bool = RetryOpt,
        executor: str = ExecutorOpt, address: str = AddressOpt, shards: int = ShardsOpt,
        workers: int = WorkersOpt, sets: list[str] = SetOpt) -> None:
    """Run every stage: generate, score, calibrate, report (resumes where it stopped)."""
    run_stages_command(config, ["generate", "score", "calibrate", "report"], force, progress,
                       retry_errors, executor, address, shards, workers, sets)


@app.command()
def generate(config: str = typer.Argument(..., help="Run config YAML."),
             force: list[str] = ForceOpt, progress: bool = ProgressOpt,
             retry_errors: bool = RetryOpt, executor: str = ExecutorOpt,
             address: str = AddressOpt, shards: int = ShardsOpt, workers: int = WorkersOpt,
             sets: list[str] = SetOpt) -> None:
    """Expand queries and answer them with the generator models."""
    run_stages_command(config, ["generate"], force, progress, retry_errors, executor, address,
                       shards, workers, sets)


@app.command()
def score(config: str = typer.Argument(..., help="Run config YAML."),
          force: list[str] = ForceOpt, progress: bool = ProgressOpt,
          retry_errors: bool = RetryOpt, executor: str = ExecutorOpt, address: str = AddressOpt,
          shards: int = ShardsOpt, workers: int = WorkersOpt, sets: list[str] = SetOpt) -> None:
    """Score generations with the judge models and rubrics."""
    run_stages_command(config, ["score"], force, progress, retry_errors, executor, address,
                       shards, workers, sets)


@app.command()
def schema(record: str = typer.Argument(None, help="query, generation, judgment, human_label "
                                                   "(a record's JSON Schema), metrics, "
                                                   "calibration (a frame's columns), or omit "
                                                   "to list them.")) -> None:
    """Print a record type's JSON Schema, or a result frame's columns (name, dtype, meaning)."""
    def go() -> None:
        import json

        from judge.frame_schema import FRAME_SCHEMAS, frame_schema
        from judge.records import RECORD_TYPES

        names = [*RECORD_TYPES, *FRAME_SCHEMAS]
        if record is None:
            typer.echo("\n".join(names))
        elif record in FRAME_SCHEMAS:
            typer.echo(json.dumps(frame_schema(record), indent=2))
        elif record not in RECORD_TYPES:
            raise usage_error(f"unknown record or frame {record!r}",
                              hint=f"choose one of {', '.join(names)}")
        else:
            typer.echo(json.dumps(RECORD_TYPES[record].model_json_schema(), indent=2))
    guard(go)


def _mount() -> None:
    """Commands and groups that live in judge/_cli/ (each imports its heavy modules lazily)."""
    from judge._cli.calibrate import calibrate
    from judge._cli.datasets import app as datasets_app
    from judge._cli.plan import plan
    from judge._cli.report import report
    from judge._cli.rubrics import app as rubrics_app

    app.command(name="calibrate")(calibrate)
    app.command(name="report")(report)
    app.command(name="plan")(plan)
    app.add_typer(rubrics_app, name="rubrics", help="Lint, lock, diff and list rubrics.")
    app.add_typer(datasets_app, name="datasets", help="Import, fetch, list and expand datasets.")
    from judge._cli.label import mount as mount_labelling

    mount_labelling(app)  # label, labels check|import
    from judge._cli.local import serve_local

    app.command(name="serve-local")(serve_local)
    from judge.plugins import register_commands

    register_commands(app)  # e.g. the sim plugin's serve-sim


_mount()


def main() -> None:
    """Console-script entry point.

    A command that imported litellm ends without the interpreter's teardown (~0.8 s), once
    everything is written (:func:`judge.llm.litellm_env.exit_now`)."""
    try:
        app()
    except SystemExit as done:
        code = done.code
        if not (code is None or isinstance(code, int)):
            raise
        from judge.llm.litellm_env import can_exit_now, exit_now

        if can_exit_now():
            exit_now(code or 0)
        raise


if __name__ == "__main__":
    main()
