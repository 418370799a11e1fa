"""The ``queries`` stage's part for LLM-written queries: resumable, counted, recorded."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from judge.llm.client import BudgetExhausted
from judge.querygen._run import (
    REJECTIONS_FILE,
    GroupJob,
    QueryWriter,
    check_config,
    check_unique,
    plan_groups,
)
from judge.rubrics import load_rubrics
from judge.store import iter_jsonl


def _reason_key(reason: str) -> str:
    """``leaks_other=yes`` -> ``leaks_other``; ``writer_error: ...`` -> ``writer_error``."""
    return reason.split("=", 1)[0].split(":", 1)[0]


def write_llm_queries(ctx: Any, done: set[str], writer: Any, res: Any) -> dict[str, Any]:
    """Write the config's LLM-written queries to ``writer``, rejections to query_rejections.

    Groups whose queries are all in ``done``, or that an earlier run dropped, are skipped.
    Returns the counts also stored in ``res.extra["llm_written"]``.
    """
    cfg = ctx.cfg.queries.llm_written
    rubric = load_rubrics([cfg.rubric])[0]  # with the released-version check
    check_config(cfg, rubric)
    jobs = list(plan_groups(cfg, rubric.ref, ctx.cfg.seed))
    check_unique(jobs)
    rej_path = ctx.store.path(REJECTIONS_FILE)
    seen_rej: set[str] = set()
    dropped: set[str] = set()
    for _, r in iter_jsonl(rej_path):
        seen_rej.add(r["rejection_id"])
        if r.get("status") == "dropped":
            dropped.add(r["cf_group"])
    qw = QueryWriter(cfg, ctx.client(cfg.writer), ctx.client(cfg.validator), rubric,
                     ctx.cfg.seed)
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    todo: list[GroupJob] = []
    for j in jobs:
        counts["groups_planned"] += 1
        res.planned += len(j.members)
        if j.cf_group in dropped or all(m.query_id in done for m in j.members):
            counts["groups_skipped"] += 1
            res.skipped += len(j.members)
        else:
            todo.append(j)
    window = max(1, cfg.writer.concurrency)

    def record(out: Any, rw: Any) -> None:
        for r in out.rejections + ([out.dropped] if out.dropped else []):
            if r["status"] == "rejected":
                counts["rejections"] += 1
                reasons.update({_reason_key(x) for x in r["reasons"]})
            if r["rejection_id"] not in seen_rej:
                seen_rej.add(r["rejection_id"])
                rw.write(r)
        if out.dropped:
            counts["groups_dropped"] += 1
            counts["queries_dropped"] += out.dropped["members"]
            return
        counts["groups_written"] += 1
        for q in out.queries:
            if q.query_id in done:
                res.skipped += 1
                continue
            done.add(q.query_id)
            writer.write(q)
            res.written += 1
            counts["queries_written"] += 1

    async def drive(rw: Any) -> None:
        for i in range(0, len(todo), window):  # windows keep the output order deterministic
            try:
                outs = await asyncio.gather(*(qw.group(j) for j in todo[i:i + window]))
            except BudgetExhausted as err:
                res.stopped = str(err)
                return
            for out in outs:
                record(out, rw)

    with ctx.store.writer(REJECTIONS_FILE, ctx.cfg.flush_every) as rw:
        asyncio.run(drive(rw))
    summary = {**{k: counts.get(k, 0) for k in ("groups_planned", "groups_written",
                                                "groups_skipped", "groups_dropped",
                                                "queries_written", "queries_dropped",
                                                "rejections")},
               "rejections_by_reason": dict(sorted(reasons.items())),
               "writer_calls": qw.stats["writer_calls"],
               "validator_calls": qw.stats["validator_calls"],
               "rejections_file": REJECTIONS_FILE}
    res.extra["llm_written"] = summary
    return summary

