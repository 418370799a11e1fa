"""Command-line interface: a thin layer over the library (``judge --help``).

Heavy modules (litellm, pandas, the stages) are imported inside commands, so start-up
stays fast.
"""

from __future__ import annotations

import typer

from judge._cli.common import guard, run_stages_command
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
        workers: int = WorkersOpt) -> None:
    """Run every stage: generate, score, calibrate, report (resumes where it stopped)."""
    run_stages_command(config, ["generate", "score", "calibrate", "report"], force, progress, retry_errors,
            executor, address, shards, workers)


@app.command()
def generate(config: str, force: list[str] = ForceOpt, progress: bool = ProgressOpt,
             retry_errors: bool = RetryOpt, executor: str = ExecutorOpt,
             address: str = AddressOpt, shards: int = ShardsOpt, workers: int = WorkersOpt
             ) -> None:
    """Expand queries and answer them with the generator models."""
    run_stages_command(config, ["generate"], force, progress, retry_errors, executor, address, shards,
            workers)


@app.command()
def score(config: str, force: list[str] = ForceOpt, progress: bool = ProgressOpt,
          retry_errors: bool = RetryOpt, executor: str = ExecutorOpt, address: str = AddressOpt,
          shards: int = ShardsOpt, workers: int = WorkersOpt) -> None:
    """Score generations with the judge models and rubrics."""
    run_stages_command(config, ["score"], force, progress, retry_errors, executor, address, shards,
            workers)


@app.command(context_settings={"allow_extra_args": False})
def calibrate(
        args: list[str] = typer.Argument(None, help="CONFIG, or: sample CONFIG"),
        judgments: str = typer.Option(None, "--judgments",
                                      help="Standalone: judgments JSONL/CSV from anywhere."),
        labels: str = typer.Option(None, "--labels", help="Standalone: human labels file."),
        out: str = typer.Option(None, "--out", help="Standalone / sample: output directory."),
        n: int = typer.Option(200, "--n", help="sample: items to label."),
        criterion: str = typer.Option(None, "--criterion",
                                      help="sample: RUBRIC.CRITERION to stratify on."),
        scale: list[str] = typer.Option(None, "--scale", help="Standalone: likert:1-5 | binary "
                                        "| categorical:a,b | CRITERION=SPEC."),
        reference: list[str] = typer.Option(None, "--reference", help="ATTRIBUTE=LEVEL."),
        B: int = typer.Option(1000, "--B", help="Bootstrap replicates."),
        seed: int = typer.Option(0, "--seed"),
        force: list[str] = ForceOpt) -> None:
    """Judge vs human labels: agreement, bias per group, PPI++-corrected estimates.

    \b
    judge calibrate CONFIG                      calibrate a run
    judge calibrate sample CONFIG --n N         write a stratified labelling sheet
    judge calibrate --judgments F --labels F --out DIR   judges run elsewhere
    """
    args = args or []
    if judgments or labels:
        if not (judgments and labels and out) or args:
            typer.secho("error: standalone calibration needs --judgments, --labels and --out "
                        "(and no CONFIG)", fg="red", err=True)
            raise typer.Exit(2)
        from pathlib import Path

        from judge._cli.calibrate import run_standalone

        guard(lambda: run_standalone(Path(judgments), Path(labels), Path(out), scale=scale,
                                      reference=reference, B=B, seed=seed))
        return
    if len(args) == 2 and args[0] == "sample":
        guard(lambda: _sample(args[1], n, out, criterion, seed))
        return
    if len(args) != 1:
        typer.secho("error: usage: judge calibrate CONFIG | judge calibrate sample CONFIG --n N "
                    "| judge calibrate --judgments F --labels F --out DIR", fg="red", err=True)
        raise typer.Exit(2)
    run_stages_command(args[0], ["calibrate"], force, False)


def _sample(config: str, n: int, out: str | None, criterion: str | None, seed: int) -> None:
    from judge._cli.calibrate import write_sample_sheet
    from judge.config import load_config
    from judge.stages.calibrate import labelling_items

    cfg = load_config(config)
    items, rubric, crit = labelling_items(cfg, criterion)
    paths = write_sample_sheet(items, out or cfg.run_dir / "labelling", n, seed=seed,
                               rubric=rubric, criterion=crit)
    typer.echo(f"sampled {min(n, len(items))} of {len(items)} items ({rubric}.{crit}): "
               f"{paths['csv']} and {paths['jsonl']}")


@app.command()
def plan(config: str = typer.Argument(..., help="Run config YAML.")) -> None:
    """Print counts before anything runs: queries, groups, cells, calls, tokens, cost."""
    def go() -> None:
        from judge.config import load_config
        from judge.llm.client import plan_price
        from judge.plan import format_plan, plan_counts
        from judge.plugins import setup_providers

        cfg = load_config(config)
        setup_providers(cfg, [s.model for s in cfg.all_models()])
        typer.echo(format_plan(plan_counts(cfg, price_fn=plan_price)))
    guard(go)


@app.command()
def schema(record: str = typer.Argument(None, help="query, generation, judgment, human_label, "
                                                   "or omit to list them.")) -> None:
    """Print a record type's JSON Schema."""
    import json

    from judge.records import RECORD_TYPES

    if record is None:
        typer.echo("\n".join(RECORD_TYPES))
        return
    if record not in RECORD_TYPES:
        typer.secho(f"error: unknown record {record!r}; choose one of {', '.join(RECORD_TYPES)}",
                    fg="red", err=True)
        raise typer.Exit(2)
    typer.echo(json.dumps(RECORD_TYPES[record].model_json_schema(), indent=2))


def _mount() -> None:
    """Sub-command groups live in judge/_cli/ (each imports its heavy modules lazily)."""
    from judge._cli.rubrics import app as rubrics_app

    app.add_typer(rubrics_app, name="rubrics", help="Lint, lock, diff and list rubrics.")
    from judge._cli.datasets import app as datasets_app
    from judge._cli.report import report as report_command
    app.command(name="report")(report_command)

    app.add_typer(datasets_app, name="datasets", help="Import, fetch, list and expand datasets.")
    from judge._cli.local import serve_local; app.command(name="serve-local")(serve_local)  # noqa: E702, I001
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
