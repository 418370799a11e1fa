"""Score tasks: judge models score generations against versioned rubrics.

Every judgment records rubric id, version and content hash, the judge's raw output, parsed
scores and parse status. Invalid output triggers up to ``repair_attempts`` re-asks; a final
failure is a recorded ``parse_failure`` (never a score). Which judgments exist (modes,
probes, repeats) is :mod:`judge.tasks.judging`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from judge.config import CONVENTIONAL_REFERENCE, ModelSpec, RunConfig
from judge.llm.structured import (
    decisions,
    default_max_tokens,
    has_token_cap,
    resolve,
    structured_format,
)
from judge.records import CallInfo, Judgment, Usage, now_iso
from judge.rubrics import (
    load_rubrics,
    lock_status,
    parse_judge_output,
    repair_messages,
    restore_order,
)
from judge.tasks._model import Reader, StageInput, Task
from judge.tasks.judging import (
    JudgeTask,
    build_groups,
    group_tasks,
    judge_params,
    pointwise_tasks,
    slim,
    swap_partners,
)


def task_kind(t: JudgeTask) -> str:
    """How ``judge plan`` counts a judgment: ``score``, or ``probe:<name>``."""
    return f"probe:{t.probe}" if t.probe else "score"


async def judge_task(t: JudgeTask, client: Any, run_seed: int) -> Judgment:
    """Call the judge, parse, re-ask on invalid output, and build the Judgment record."""
    params = judge_params(t.spec, run_seed, t.repeat)
    decision = await resolve(t.spec, client)  # auto behind api_base: one preflight per model
    fmt = structured_format(t.spec, t.rubric, len(t.responses), mode=decision.mode)
    if fmt is not None:
        params["response_format"] = fmt
    if not has_token_cap(params):  # not in the judgment id: ids stay those of earlier runs
        params["max_tokens"] = default_max_tokens(t.rubric, len(t.responses))
    messages = t.rubric.render(query=t.query_text, responses=t.responses,
                               attributes=t.gens[0].get("attributes"))
    use_cache = t.repeat == 0
    r = await client.complete(messages, params, sample=t.repeat, use_cache=use_cache)
    usage = r.usage
    cost = r.cost_usd
    attempts, latency, cached = r.attempts, r.latency_s, r.cached
    repairs = 0
    status, scores, expl, raw, error = "error", {}, None, r.text, r.error
    if r.ok:
        pr = parse_judge_output(t.rubric, r.text or "", n_responses=len(t.responses))
        convo = list(messages)
        while pr.status == "parse_failure" and repairs < t.spec.repair_attempts:
            repairs += 1
            convo = convo + repair_messages(t.rubric, raw or "", pr.error or "invalid output")
            r2 = await client.complete(convo, params, sample=t.repeat, use_cache=use_cache)
            usage = Usage(prompt_tokens=usage.prompt_tokens + r2.usage.prompt_tokens,
                          completion_tokens=usage.completion_tokens + r2.usage.completion_tokens)
            cost = None if cost is None or r2.cost_usd is None else cost + r2.cost_usd
            attempts += r2.attempts
            latency += r2.latency_s
            if not r2.ok:
                error = r2.error
                break
            raw = r2.text
            pr = parse_judge_output(t.rubric, raw or "", n_responses=len(t.responses))
        if error is None:
            status, scores, expl = pr.status, (pr.scores if pr.status == "ok" else {}), pr.explanation
            if scores and t.order is not None:
                scores = restore_order(t.rubric, scores, t.order)
    g0 = t.gens[0]
    return Judgment(
        judgment_id=t.judgment_id, target_ids=[g["generation_id"] for g in t.gens],
        query_ids=[g["query_id"] for g in t.gens], cf_group=g0["cf_group"],
        scenario_id=g0["scenario_id"], context=g0["context"], attributes=g0.get("attributes", {}),
        generator=g0["model"], judge=t.spec.label, judge_model=t.spec.model,
        rubric_id=t.rubric.id, rubric_version=t.rubric.version, rubric_hash=t.rubric.hash,
        mode=t.rubric.mode, probe=t.probe, probe_meta=t.probe_meta, repeat=t.repeat,
        parse_status=status, scores=scores, explanation=expl, raw_output=raw,
        structured_output=decision.mode,
        repair_attempts=repairs, error=error, usage=usage, cost_usd=cost,
        call=CallInfo(latency_s=round(latency, 4), attempts=attempts, cached=cached,
                      created_at=now_iso()))


class ScoreTasks:
    """The ``score`` stage as tasks: every successful generation × judge × applicable
    rubric × repeat, the probes, and the pairwise and counterfactual-set judgments of each
    counterfactual group."""

    name = "score"
    output = "judgments"
    id_field = "judgment_id"

    def __init__(self, cfg: RunConfig, rubrics: list[Any] | None = None):
        self.cfg = cfg
        self.rubrics = rubrics if rubrics is not None else load_rubrics(cfg.rubrics)
        self.by_group = any(rb.mode != "pointwise" for rb in self.rubrics)
        inputs = [StageInput("generations", "cf_group" if self.by_group else "generation_id",
                             self.by_group)]
        if "attribute_swap" in cfg.probes:  # swap partners come from the group's queries
            inputs.append(StageInput("queries", "cf_group", True))
        self.inputs = tuple(inputs)

    def models(self) -> list[ModelSpec]:
        return list(self.cfg.judges)

    def reference(self) -> dict[str, str]:
        """Levels the pairwise anchor is chosen by (configured over conventional)."""
        return {**CONVENTIONAL_REFERENCE, **self.cfg.report.reference}

    def pointwise(self, gen: dict[str, Any], partner: dict[str, Any] | None = None
                  ) -> Iterator[Task]:
        """The tasks of one successful generation alone (pointwise rubrics and probes)."""
        cfg = self.cfg
        unit = gen["cf_group"] if self.by_group else gen["generation_id"]
        for t in pointwise_tasks(gen, cfg.judges, self.rubrics, cfg.seed, cfg.probes, partner):
            yield Task(t.judgment_id, unit, gen["cf_group"], t.spec.label, task_kind(t), t)

    def tasks(self, read: Reader) -> Iterator[Task]:
        cfg = self.cfg
        partners = swap_partners(read("queries")) if "attribute_swap" in cfg.probes else {}
        kept = []
        for gen in read("generations"):
            if gen.get("status") != "ok":
                continue
            if self.by_group:
                kept.append(slim(gen))
            yield from self.pointwise(gen, partners.get(gen["query_id"]))
        if self.by_group:
            for t in group_tasks(build_groups(kept), cfg.judges, self.rubrics, cfg.seed,
                                 self.reference()):
                cf = t.gens[0]["cf_group"]
                yield Task(t.judgment_id, cf, cf, t.spec.label, task_kind(t), t)

    async def run(self, task: Task, clients: dict[str, Any]) -> Judgment:
        t: JudgeTask = task.payload
        return await judge_task(t, clients[t.spec.label], self.cfg.seed)

    def is_error(self, rec: Any) -> bool:
        return rec.parse_status != "ok"

    def facts(self) -> dict[str, Any]:
        """What the manifest records about the rubrics: hash, lock status, and the version
        each requested name resolved to."""
        return {"rubrics": {rb.ref: rb.hash for rb in self.rubrics},
                "rubric_lock": {rb.ref: lock_status(rb) for rb in self.rubrics},
                "rubrics_requested": dict(zip(self.cfg.rubrics,
                                              (rb.ref for rb in self.rubrics))),
                "structured_output": decisions(self.models())}
