"""Stage ``score``: judge models score generations against versioned rubrics.

Pointwise judging here; every judgment records rubric id, version and content hash, the
judge's raw output, parsed scores and parse status. Invalid output triggers up to
``repair_attempts`` re-asks; a final failure is a recorded ``parse_failure`` (never a score).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

from judge.config import JudgeSpec
from judge.context import RunContext
from judge.records import CallInfo, Judgment, Usage
from judge.stages.generate import now_iso
from judge.stages.plan_judging import (
    PROBES,
    JudgeTask,
    build_groups,
    group_tasks,
    judge_params,
    pointwise_tasks,
    slim,
    swap_partners,
)
from judge.stages.runner import Progress, StageResult, run_pool
from judge.store import iter_jsonl, scan_ids


def load_rubrics(refs: list[str]) -> list[Any]:
    from judge.rubric import load_rubric

    return [load_rubric(r) for r in refs]


def structured_format(spec: JudgeSpec, rubric: Any, n_responses: int = 1
                      ) -> dict[str, Any] | None:
    """litellm ``response_format`` for this judge, or None to rely on extraction."""
    mode = spec.structured_output
    if mode == "none":
        return None
    if mode == "json_object":
        return {"type": "json_object"}
    if mode == "json_schema" or spec.provider == "sim":
        return rubric.response_format(n_responses)
    if spec.api_base:
        return None
    from judge.llm.litellm_env import get_litellm

    try:
        ok = get_litellm().supports_response_schema(model=spec.model)
    except Exception:  # noqa: BLE001 - unknown models
        ok = False
    return rubric.response_format(n_responses) if ok else None


async def judge_task(t: JudgeTask, client: Any, run_seed: int) -> Judgment:
    """Call the judge, parse, re-ask on invalid output, and build the Judgment record."""
    from judge.rubric import parse_judge_output, repair_messages, restore_order

    params = judge_params(t.spec, run_seed, t.repeat)
    fmt = structured_format(t.spec, t.rubric, len(t.responses))
    if fmt is not None:
        params["response_format"] = fmt
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
        repair_attempts=repairs, error=error, usage=usage, cost_usd=cost,
        call=CallInfo(latency_s=round(latency, 4), attempts=attempts, cached=cached,
                      created_at=now_iso()))


def done_judgments(ctx: RunContext) -> set[str]:
    """Judgment ids a run skips: final ones (or, with ``retry_errors``, non-errors)."""
    from judge.executors.shards import done_keep

    return scan_ids(ctx.store.path("judgments"), "judgment_id",
                    keep=done_keep("score", ctx.retry_errors))


def score(ctx: RunContext) -> StageResult:
    """Judge every successful generation with every judge × applicable rubric × repeat."""
    t0 = time.perf_counter()
    cfg = ctx.cfg
    res = StageResult("score")
    rubrics = load_rubrics(cfg.rubrics)
    done = done_judgments(ctx)
    clients = {j.label: ctx.client(j) for j in cfg.judges}

    unknown = [p for p in cfg.probes if p not in PROBES]
    if unknown:
        from judge.errors import ConfigError

        raise ConfigError(f"unknown probe(s) {unknown}; choose from {list(PROBES)}",
                          path=cfg.source_path, field="probes")
    needs_groups = any(rb.mode != "pointwise" for rb in rubrics)
    partners = (swap_partners(o for _, o in iter_jsonl(ctx.store.path("queries")))
                if "attribute_swap" in cfg.probes else {})

    def all_tasks() -> Iterator[JudgeTask]:
        kept = []
        for _, gen in iter_jsonl(ctx.store.path("generations")):
            if gen.get("status") != "ok":
                continue
            if needs_groups:
                kept.append(slim(gen))
            yield from pointwise_tasks(gen, cfg.judges, rubrics, cfg.seed, cfg.probes,
                                       partners.get(gen["query_id"]))
        if needs_groups:
            from judge.stages.analyze import DEFAULT_REFERENCE

            ref = {**DEFAULT_REFERENCE, **cfg.report.reference}
            yield from group_tasks(build_groups(kept), cfg.judges, rubrics, cfg.seed, ref)

    def items() -> Iterator[JudgeTask]:
        for task in all_tasks():
            res.planned += 1
            if task.judgment_id in done:
                res.skipped += 1
                continue
            if not ctx.in_shard(task.judgment_id):
                continue
            done.add(task.judgment_id)
            yield task

    async def work(t: JudgeTask) -> Judgment:
        j = await judge_task(t, clients[t.spec.label], cfg.seed)
        res.parse_failures += j.parse_status == "parse_failure"
        return j

    progress = Progress("score", None, ctx.progress, lambda: ctx.budget.spent)
    workers = sum(j.concurrency for j in cfg.judges)
    try:
        with ctx.writer("judgments") as w:
            asyncio.run(run_pool(items(), work, w, workers=workers, result=res,
                                 progress=progress,
                                 is_error=lambda r: r.parse_status not in ("ok",)))
    finally:
        progress.close()
    res.seconds = time.perf_counter() - t0
    res.extra.update(rubric_extras(cfg.rubrics, rubrics))
    return res


def rubric_extras(requested: list[str], rubrics: list[Any]) -> dict[str, Any]:
    """What the score stage records about its rubrics: hash, lock status, and the version
    each requested name resolved to."""
    from judge.rubric import lock_status

    return {"rubrics": {rb.ref: rb.hash for rb in rubrics},
            "rubric_lock": {rb.ref: lock_status(rb) for rb in rubrics},
            "rubrics_requested": dict(zip(requested, (rb.ref for rb in rubrics)))}
