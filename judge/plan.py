"""Dry run: how many queries, groups, cells, calls, tokens and dollars a run config implies.

Counts are the run's own tasks (:mod:`judge.tasks`, the code every executor runs), so plan
= run by construction (tests/test_plan_equals_run.py checks it at the server's request
log); tokens are estimates (characters / 4 for prompts, assumed lengths for answers) and
cost comes from a caller-supplied ``price_fn`` (the CLI passes litellm's price table).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from judge.config import RunConfig
from judge.querygen import plan_groups
from judge.rubrics import load_rubric
from judge.scenarios import iter_queries
from judge.tasks import GenerateTasks, ScoreTasks, Task

PriceFn = Callable[[str, int, int], "float | None"]
"""(litellm model string, prompt tokens, completion tokens) -> USD, or None if unknown."""

CHARS_PER_TOKEN = 4.0
DEFAULT_ANSWER_TOKENS = 300
"""Assumed generator answer length when a generator sets no ``max_tokens``."""
JUDGE_PROMPT_OVERHEAD = 600
"""Rubric instructions, criteria and output format in a judge prompt (tokens)."""
JUDGE_OUTPUT_TOKENS = 150
LLM_WRITER_PROMPT_TOKENS = 250
"""Writer instructions and persona in a query-writing prompt (tokens)."""
LLM_QUERY_EXTRA_TOKENS = 20
"""What a written query adds to its use case's task (the persona's words)."""


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


def _planned_queries(cfg: RunConfig) -> Iterator[dict[str, Any]]:
    """Every query the run would write, as the queries file holds it: scenario expansion,
    an imported queries file, and LLM-written queries (counted before any drop; their text
    is the use case's task)."""
    for q in iter_queries(cfg.queries, seed=cfg.seed):
        yield q.model_dump(mode="json")
    llm = cfg.queries.llm_written
    if llm is None:
        return

    for job in plan_groups(llm, load_rubric(llm.rubric).ref, cfg.seed):
        for m in job.members:
            yield {"query_id": m.query_id, "cf_group": job.cf_group,
                   "scenario_id": job.use_case.id, "scenario_version": job.use_case.version,
                   "context": job.use_case.context, "text": job.use_case.task,
                   "attributes": dict(m.persona), "source": "llm_written",
                   "_llm_extra": LLM_QUERY_EXTRA_TOKENS}


def _as_generation(task: Task) -> dict[str, Any]:
    """A generate task as the generation it would write, had the call succeeded."""
    q, spec, s, _params = task.payload
    return {"generation_id": task.id, "query_id": q.query_id, "cf_group": q.cf_group,
            "scenario_id": q.scenario_id, "context": q.context, "attributes": q.attributes,
            "prompt": q.messages(), "model": spec.label, "sample": s, "status": "ok",
            "response": ""}


def plan_counts(cfg: RunConfig, *, price_fn: PriceFn | None = None) -> Plan:
    """Count queries, counterfactual groups, attribute cells and calls per stage.

    The calls are the run's own tasks (:mod:`judge.tasks`): the generate tasks of every
    query, and the score tasks of every generation, as if every call succeeded; so
    ``plan.calls(stage)`` is what a run makes, without retries and repair re-asks.
    Tokens are estimates (characters / 4 for prompts, assumed lengths for answers).
    """
    queries: list[dict[str, Any]] = []
    groups: set[str] = set()
    cells: set[tuple[tuple[str, str], ...]] = set()
    scenarios: set[str] = set()
    prompt_chars: dict[str, int] = {}
    llm_queries = 0
    for q in _planned_queries(cfg):
        llm_queries += "_llm_extra" in q
        q.pop("_llm_extra", None)
        queries.append(q)
        groups.add(q["cf_group"])
        cells.add(tuple(sorted(q.get("attributes", {}).items())))
        scenarios.add(q["scenario_id"])
        prompt_chars[q["query_id"]] = len(q["text"]) + len(q.get("system") or "")
    stages: list[StageCount] = []
    if cfg.queries.llm_written is not None:
        _plan_llm_written(cfg, llm_queries, stages, price_fn)
    calls: dict[tuple[str, str], int] = {}
    tokens: dict[tuple[str, str], tuple[int, int]] = {}
    generations: list[dict[str, Any]] = []
    gen = GenerateTasks(cfg)
    for t in gen.tasks(lambda name: iter(queries) if name == "queries" else iter(())):
        key = ("generate", t.model)
        calls[key] = calls.get(key, 0) + 1
        spec = t.payload[1]
        out = int(spec.params.get("max_tokens") or DEFAULT_ANSWER_TOKENS)
        p, c = tokens.get(key, (0, 0))
        tokens[key] = (p + _tokens(prompt_chars[t.unit]), c + out)
        generations.append(_as_generation(t))
    if cfg.judges:
        n_gen = max(1, len(generations))
        mean_in = sum(prompt_chars.values()) / max(1, len(prompt_chars)) / CHARS_PER_TOKEN
        mean_out = sum(tokens[k][1] for k in tokens) / n_gen
        per_call = JUDGE_PROMPT_OVERHEAD + math.ceil(mean_in + mean_out)
        score = ScoreTasks(cfg)
        read = {"queries": queries, "generations": generations}
        for t in score.tasks(lambda name: iter(read.get(name, ()))):
            key = (t.kind, t.model)
            calls[key] = calls.get(key, 0) + 1
            p, c = tokens.get(key, (0, 0))
            n = len(t.payload.responses)
            tokens[key] = (p + per_call + (n - 1) * math.ceil(mean_out), c + JUDGE_OUTPUT_TOKENS)
    models = {s.label: s.model for s in cfg.generators + cfg.judges}
    for (stage, label), n in sorted(calls.items(), key=lambda kv: _stage_order(kv[0])):
        p, c = tokens[(stage, label)]
        stages.append(StageCount(stage, label, models[label], n, p, c,
                                 _price(price_fn, models[label], p, c)))
    return Plan(len(queries), len(groups), len(cells), len(scenarios), stages,
                price_fn is not None)


def _stage_order(key: tuple[str, str]) -> tuple[int, str, str]:
    stage, label = key
    rank = {"generate": 0, "score": 1}.get(stage, 2)
    return (rank, stage, label)


def _plan_llm_written(cfg: RunConfig, n: int, stages: list[StageCount],
                      price_fn: PriceFn | None) -> None:
    """The writer and validator calls of LLM-written queries (one per query: the minimum;
    each regeneration adds one of each)."""
    llm = cfg.queries.llm_written
    tokens = n * LLM_QUERY_EXTRA_TOKENS
    for stage, spec, p_call, c_call in (
            ("write (min)", llm.writer, LLM_WRITER_PROMPT_TOKENS, 0),
            ("validate (min)", llm.validator, JUDGE_PROMPT_OVERHEAD, JUDGE_OUTPUT_TOKENS)):
        p = n * p_call + tokens
        c = n * c_call + (tokens if c_call == 0 else 0)
        stages.append(StageCount(stage, spec.label, spec.model, n, p, c,
                                 _price(price_fn, spec.model, p, c)))


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
