"""Command-line interface: a thin layer over the library (``judge --help``).

Every command lives in this file or in ``judge/_cli/`` and reports errors through
:func:`judge._cli.common.guard` (one line on stderr; exit code 2 for usage and config
errors, as for typer's own usage errors). The commands of :data:`COMMANDS` are loaded on
first use (:class:`judge._cli.lazy.LazyGroup`), so a command module imports the library at
top level and ``judge --help`` or ``judge schema`` imports none of them.
"""

from __future__ import annotations

import json

import typer

from judge._cli.common import guard, usage_error
from judge._cli.lazy import Lazy, LazyGroup
from judge.frame_schema import FRAME_SCHEMAS, frame_schema
from judge.llm.litellm_env import can_exit_now, exit_now
from judge.plugins import register_commands
from judge.records import RECORD_TYPES

# name -> where the command lives and the line `judge --help` shows for it (tests/test_cli.py
# checks the line against the command's own help).
COMMANDS = {
    "run": Lazy("judge._cli.run", "run", "Run every stage: generate, score, calibrate, report "
                                        "(resumes where it stopped)."),
    "generate": Lazy("judge._cli.run", "generate",
                     "Expand queries and answer them with the generator models."),
    "score": Lazy("judge._cli.run", "score",
                  "Score generations with the judge models and rubrics."),
    "calibrate": Lazy("judge._cli.calibrate", "calibrate", "Judge vs human labels: agreement, "
                      "bias per group, PPI++-corrected estimates."),
    "report": Lazy("judge._cli.report", "report", "Compute metrics and write metrics.json/csv, "
                   "report.md and report.html; or compare runs."),
    "plan": Lazy("judge._cli.plan", "plan", "Print counts before anything runs: queries, "
                 "groups, cells, calls, tokens, cost."),
    "label": Lazy("judge._cli.label", "label_cmd", "Serve a labelling page on 127.0.0.1: one "
                  "item at a time, answers saved as you go."),
    "serve-local": Lazy("judge._cli.local", "serve_local", "Serve a local GGUF model "
                        "(llama-cpp-python) until Ctrl-C; point configs at it."),
    "rubrics": Lazy("judge._cli.rubrics", "app", "Lint, lock, diff and list rubrics.",
                    group=True),
    "datasets": Lazy("judge._cli.datasets", "app", "Import, fetch, list and expand datasets.",
                     group=True),
    "labels": Lazy("judge._cli.label", "labels_app", "Check and import human labels.",
                   group=True),
}


class JudgeGroup(LazyGroup):
    lazy = COMMANDS
    order = ("run", "generate", "score", "schema", "calibrate", "report", "plan", "label",
             "serve-local", "rubrics", "datasets", "labels")


app = typer.Typer(cls=JudgeGroup, add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False,
                  help="Context-specific fairness evaluation of LLMs, with calibrated judges.")


@app.command()
def schema(record: str = typer.Argument(None, help="query, generation, judgment, human_label "
                                                   "(a record's JSON Schema), metrics, "
                                                   "calibration (a frame's columns), or omit "
                                                   "to list them.")) -> None:
    """Print a record type's JSON Schema, or a result frame's columns (name, dtype, meaning)."""
    def go() -> None:
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


register_commands(app)  # plugin commands, e.g. the sim plugin's serve-sim


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
        if can_exit_now():
            exit_now(code or 0)
        raise


if __name__ == "__main__":
    main()
