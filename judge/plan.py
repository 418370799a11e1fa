"""Dry run: how many queries, groups, cells, calls, tokens and dollars a run config implies.

Counts come from streaming the real query expansion (nothing is materialised), so they are
exact; tokens are estimates (characters / 4 for prompts, assumed lengths for answers) and
cost comes from a caller-supplied ``price_fn`` (the CLI passes litellm's price table).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from judge.config import RunConfig
from judge.scenarios import iter_queries

PriceFn = Callable[[str, int, int], "float | None"]
"""(litellm model string, prompt tokens, completion tokens) -> USD, or None if unknown."""

CHARS_PER_TOKEN = 4.0
DEFAULT_ANSWER_TOKENS = 300
"""Assumed generator answer length when a generator sets no ``max_tokens``."""
JUDGE_PROMPT_OVERHEAD = 600
"""Rubric instructions, criteria and output format in a judge prompt (tokens)."""
JUDGE_OUTPUT_TOKENS = 150


@dataclass(frozen=True)
class StageCount:
    """Calls, estimated tokens and cost of one stage for one model."""

    stage: str
    model: str
    model_string: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None


@dataclass(frozen=True)
class Plan:
    """What a run would do, before it does it."""

    queries: int
    cf_groups: int
    cells: int
    scenarios: int
    stages: list[StageCount] = field(default_factory=list)
    priced: bool = False
    """True when a price function was given (otherwise every cost is unknown)."""

    def calls(self, stage: str) -> int:
        """Total calls of a stage ("generate", "score", or "probe:<name>")."""
        return sum(s.calls for s in self.stages if s.stage == stage)

    @property
    def tokens(self) -> int:
        return sum(s.prompt_tokens + s.completion_tokens for s in self.stages)

    @property
    def cost_usd(self) -> float | None:
        """Total cost, or None when any model's price is unknown."""
        costs = [s.cost_usd for s in self.stages if s.calls]
        return None if any(c is None for c in costs) else float(sum(costs))  # type: ignore[arg-type]


def _tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def _price(price_fn: PriceFn | None, model: str, p: int, c: int) -> float | None:
    return None if price_fn is None else price_fn(model, p, c)


def plan_counts(cfg: RunConfig, *, price_fn: PriceFn | None = None) -> Plan:
    """Count queries, counterfactual groups, attribute cells and calls per stage.

    generate = queries x samples per generator; score = generations x rubrics x repeats per
    judge; each probe adds one more scoring pass of the same size (an estimate: a pairwise
    probe may differ).
    """
    n = prompt_tokens = 0
    groups: set[str] = set()
    cells: set[tuple[tuple[str, str], ...]] = set()
    scenarios: set[str] = set()
    for q in iter_queries(cfg.queries, seed=cfg.seed):
        n += 1
        prompt_tokens += _tokens(len(q.text) + len(q.system or ""))
        groups.add(q.cf_group)
        cells.add(tuple(sorted(q.attributes.items())))
        scenarios.add(q.scenario_id)
    stages: list[StageCount] = []
    generations = answer_tokens = 0
    for g in cfg.generators:
        calls = n * g.samples
        out = int(g.params.get("max_tokens") or DEFAULT_ANSWER_TOKENS)
        p, c = prompt_tokens * g.samples, calls * out
        stages.append(StageCount("generate", g.label, g.model, calls, p, c,
                                 _price(price_fn, g.model, p, c)))
        generations += calls
        answer_tokens += c
    mean_in = (prompt_tokens / n) if n else 0.0
    mean_out = (answer_tokens / generations) if generations else 0.0
    per_call = JUDGE_PROMPT_OVERHEAD + math.ceil(mean_in + mean_out)
    for stage in ["score", *(f"probe:{p}" for p in cfg.probes)]:
        for j in cfg.judges:
            calls = generations * len(cfg.rubrics) * j.repeats
            p, c = calls * per_call, calls * JUDGE_OUTPUT_TOKENS
            stages.append(StageCount(stage, j.label, j.model, calls, p, c,
                                     _price(price_fn, j.model, p, c)))
    return Plan(n, len(groups), len(cells), len(scenarios), stages, price_fn is not None)


def format_plan(plan: Plan) -> str:
    """A plain-text table of a plan, for `judge plan CONFIG`."""
    def money(x: float | None) -> str:
        return "unknown" if x is None else f"${x:,.4f}"

    lines = [f"queries      {plan.queries:>12,}",
             f"cf groups    {plan.cf_groups:>12,}",
             f"cells        {plan.cells:>12,}  (distinct attribute combinations)",
             f"scenarios    {plan.scenarios:>12,}", "",
             f"{'stage':<22} {'model':<28} {'calls':>10} {'tokens (est.)':>14} {'cost':>12}"]
    for s in plan.stages:
        lines.append(f"{s.stage:<22} {s.model[:28]:<28} {s.calls:>10,} "
                     f"{s.prompt_tokens + s.completion_tokens:>14,} {money(s.cost_usd):>12}")
    lines.append(f"{'total':<22} {'':<28} {sum(s.calls for s in plan.stages):>10,} "
                 f"{plan.tokens:>14,} {money(plan.cost_usd):>12}")
    if not plan.priced:
        lines.append("cost not estimated: no price table was given")
    elif plan.cost_usd is None:
        unknown = sorted({s.model for s in plan.stages if s.calls and s.cost_usd is None})
        lines.append(f"cost unknown for {', '.join(unknown)}: no price for these models")
    return "\n".join(lines)


__all__ = ["Plan", "PriceFn", "StageCount", "format_plan", "plan_counts"]
