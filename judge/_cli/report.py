"""``judge report``: the report stage of a config, or ``--compare RUN_A RUN_B``."""

from __future__ import annotations

import typer

from judge._cli.common import SetOpt, guard, usage_error
from judge._cli.run import run_stages_command
from judge.report.compare_html import write_comparison

CompareOpt = typer.Option(None, "--compare", metavar="RUN_A RUN_B",
                          help="Compare two run directories (B − A, with 95% CIs) instead of "
                               "reporting a config.")
OutOpt = typer.Option(None, "--out", help="Directory for compare.{json,csv,md,html} "
                                          "(default: runs/compare-<A>-vs-<B>).")
BootOpt = typer.Option(1000, "--bootstrap", min=100, help="Bootstrap replicates for --compare.")
SeedOpt = typer.Option(0, "--seed", help="Bootstrap seed for --compare.")


def run_compare(run_a: str, run_b: str, out: str | None = None, bootstrap: int = 1000,
                seed: int = 0) -> None:
    """Write the comparison of two runs and print where it went."""
    paths = write_comparison(run_a, run_b, out, B=bootstrap, seed=seed)
    for p in paths.values():
        typer.echo(f"compare: {p}")


def report(config: str | None = typer.Argument(None, help="Run config YAML."),
           compare: tuple[str, str] | None = CompareOpt,
           out: str | None = OutOpt, bootstrap: int = BootOpt,
           seed: int = SeedOpt, sets: list[str] = SetOpt) -> None:
    """Compute metrics and write metrics.json/csv, report.md and report.html; or compare runs."""
    def go() -> None:
        if compare and all(compare):
            if config is not None:
                raise usage_error("give either CONFIG or --compare RUN_A RUN_B, not both")
            run_compare(compare[0], compare[1], out, bootstrap, seed)
        elif config is None:
            raise usage_error("missing CONFIG (or use --compare RUN_A RUN_B)")
        else:
            run_stages_command(config, ["report"], None, False, sets=sets)
    guard(go)
