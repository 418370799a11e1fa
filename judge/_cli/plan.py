"""``judge plan CONFIG``: the run's own tasks counted before anything runs."""

from __future__ import annotations

import typer

from judge._cli.common import SetOpt, guard, load_run_config
from judge.llm.client import plan_price
from judge.plan import format_plan, plan_counts
from judge.plugins import setup_providers


def plan(config: str = typer.Argument(..., help="Run config YAML."),
         sets: list[str] = SetOpt) -> None:
    """Print counts before anything runs: queries, groups, cells, calls, tokens, cost."""
    def go() -> None:
        cfg = load_run_config(config, sets)
        setup_providers(cfg, [s.model for s in cfg.all_models()])
        typer.echo(format_plan(plan_counts(cfg, price_fn=plan_price)))
    guard(go)
