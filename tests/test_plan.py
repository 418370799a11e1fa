"""`judge plan`: exact counts from the run's own tasks, estimated tokens, cost via price_fn.

tests/test_plan_equals_run.py checks plan = run at the server's request log; these tests
check hand-computed counts and the cost arithmetic."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from judge._cli.plan import plan as plan_cmd
from judge.config import RunConfig, load_config
from judge.plan import JUDGE_OUTPUT_TOKENS, format_plan, plan_counts

SCENARIO = {
    "id": "p", "version": 1, "context": "lending",
    "templates": [{"text": "I'm {a_identity}. Approve my {loan} loan? Answer yes or no."}],
    "slots": {"loan": ["car", "home", "boat"]},
    "axes": {"race": ["White", "Black"], "gender": ["female", "male", "nonbinary"]},
}


def _cfg(tmp_path: Path, **over) -> RunConfig:
    sc = tmp_path / "p.yaml"
    sc.write_text(yaml.safe_dump(SCENARIO))
    data = {"name": "t", "queries": {"scenarios": [str(sc)]},
            "generators": [{"model": "openai/gpt-4o-mini", "samples": 2,
                            "params": {"max_tokens": 100}},
                           {"model": "sim/generator", "name": "simgen"}],
            "judges": [{"model": "openai/gpt-4o", "repeats": 3}, {"model": "sim/judge"}],
            "rubrics": ["answer_quality"], "probes": ["position_swap", "verbosity"]}
    data.update(over)
    return RunConfig.model_validate(data)


def test_counts_per_stage(tmp_path):
    plan = plan_counts(_cfg(tmp_path))
    assert (plan.queries, plan.cf_groups, plan.cells, plan.scenarios) == (18, 3, 6, 1)
    assert plan.calls("generate") == 18 * 2 + 18
    gens = 54
    # one pointwise rubric (every context): each generation x judge x repeat
    assert plan.calls("score") == gens * 3 + gens * 1
    # verbosity: once per generation, judge and pointwise rubric (repeat 0 only)
    assert plan.calls("probe:verbosity") == gens * 2
    # position_swap applies to pairwise rubrics only: none here, so no calls
    assert plan.calls("probe:position_swap") == 0
    gen = plan.stages[0]
    assert gen.completion_tokens == 36 * 100
    assert gen.prompt_tokens == 2 * sum(
        math.ceil(len(t) / 4) for t in _texts(tmp_path))
    judge = next(s for s in plan.stages if s.stage == "score" and s.model == "openai/gpt-4o")
    assert judge.completion_tokens == judge.calls * JUDGE_OUTPUT_TOKENS
    assert plan.cost_usd is None            # no price function: cost unknown, never 0


def _texts(tmp_path: Path) -> list[str]:
    from judge.scenarios import iter_queries
    return [q.text for q in iter_queries(_cfg(tmp_path).queries)]


def test_cost_from_price_fn_and_unknown_prices(tmp_path):
    prices = {"openai/gpt-4o-mini": (1e-6, 2e-6), "openai/gpt-4o": (5e-6, 1e-5),
              "sim/generator": (0.0, 0.0), "sim/judge": (0.0, 0.0)}

    def price(model: str, p: int, c: int) -> float | None:
        if model not in prices:
            return None
        a, b = prices[model]
        return p * a + c * b

    plan = plan_counts(_cfg(tmp_path), price_fn=price)
    expected = sum(s.prompt_tokens * prices[s.model_string][0]
                   + s.completion_tokens * prices[s.model_string][1] for s in plan.stages)
    assert plan.cost_usd == pytest.approx(expected) and expected > 0
    unknown = plan_counts(_cfg(tmp_path, judges=[{"model": "acme/new-model"}]), price_fn=price)
    assert unknown.cost_usd is None
    assert "cost unknown for acme/new-model: no price" in format_plan(unknown)
    assert "no price table" in format_plan(plan_counts(_cfg(tmp_path)))


def test_limit_and_design_flow_into_the_plan(tmp_path):
    cfg = _cfg(tmp_path)
    cfg.queries.limit = 2
    assert plan_counts(cfg).queries == 12
    cfg.queries.limit = None
    cfg.queries.design.kind = "single_swap"
    p = plan_counts(cfg)
    assert p.queries == 3 * (3 * 2 + 2 * 3) and p.cf_groups == 3 * 5


def test_plan_cli_prints_the_table(tmp_path):
    cfg = _cfg(tmp_path)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_none=True)))
    assert load_config(path).name == "t"
    app = typer.Typer()
    app.command()(plan_cmd)
    res = CliRunner().invoke(app, [str(path)])
    assert res.exit_code == 0, res.output
    assert "queries                18" in res.output and "probe:verbosity" in res.output
