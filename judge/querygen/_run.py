"""LLM-written queries: write from a persona and a use case, validate, regenerate, record.

In ``counterfactual`` mode each group starts from a seed query written for the first
persona cell; the writer then rewrites the seed for every other cell, keeping its content.
Every query (seed or rewrite) is checked by the validator model against the validator
rubric. An invalid query is written again, up to ``max_regenerations`` times; a query still
invalid after that drops its whole group (a counterfactual group must be complete). Every
rejected attempt and every drop is recorded with its reasons.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from judge.config import LLMQueriesConfig, UseCaseSpec
from judge.errors import ConfigError, DataError
from judge.ids import content_id, stable_int
from judge.llm.structured import structured_format
from judge.querygen._prompts import PROMPT_VERSION, brief, rewrite_messages, write_messages
from judge.records import Query
from judge.rubrics import parse_judge_output, repair_messages
from judge.scenarios import AXES, cue_matcher, load_library
from judge.scenarios._model import MODE_RANK

TEMPLATE_ID = "llm_written"
REJECTIONS_FILE = "query_rejections.jsonl"
VALID = {"expresses_intended": "yes", "leaks_other": "no", "on_task": "yes",
         "same_content": "yes"}
"""The validator rubric's criteria and the answer each must have for a query to be valid."""


@dataclass(frozen=True)
class Member:
    query_id: str
    persona: dict[str, str]


@dataclass(frozen=True)
class GroupJob:
    """One counterfactual group to write (a single member in ``independent`` mode)."""

    use_case: UseCaseSpec
    fills: dict[str, str]
    cf_group: str
    members: tuple[Member, ...]
    swapped: tuple[str, ...]
    express: str


@dataclass
class Verdict:
    ok: bool
    reasons: list[str]
    scores: dict[str, Any] = field(default_factory=dict)
    explanation: str | None = None


@dataclass
class GroupOutcome:
    queries: list[Query] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    dropped: dict[str, Any] | None = None


def check_config(cfg: LLMQueriesConfig, rubric: Any) -> None:
    """Axes and levels the attribute lists can express; a rubric with the needed criteria."""
    lib = load_library()
    for axis, levels in cfg.axes.items():
        where = f"queries.llm_written.axes.{axis}"
        if axis not in AXES:
            raise ConfigError(f"unknown axis {axis!r}", field=where,
                              hint=f"known axes: {', '.join(AXES)}")
        if not levels:
            raise ConfigError(f"axis {axis!r} has an empty level list", field=where)
        known = set(lib.dialect[next(iter(lib.dialect))]) - {"markers"} if axis == "dialect" \
            else set(lib.explicit_levels(axis))
        bad = [v for v in levels if v not in known]
        if bad:
            raise ConfigError(f"axis {axis!r} has no wording for level {bad[0]!r}", field=where,
                              hint=f"levels: {', '.join(sorted(known))}")
    ids = {c.id for c in rubric.criteria}
    missing = [c for c in VALID if c not in ids]
    if missing:
        raise ConfigError(f"validator rubric {rubric.ref} lacks criterion {missing[0]!r}",
                          field="queries.llm_written.rubric",
                          hint=f"it needs {', '.join(VALID)} (see rubrics/query_validity)")


def _extra(cfg: LLMQueriesConfig, uc: UseCaseSpec, rubric_ref: str, seed: int) -> dict[str, Any]:
    """The inputs that decide a written query's text (part of its ids)."""
    return {"writer": cfg.writer.model, "writer_params": cfg.writer.params,
            "validator": cfg.validator.model, "rubric": rubric_ref, "prompt": PROMPT_VERSION,
            "context": uc.context, "task": uc.task, "ground_truth": uc.ground_truth,
            "mode": cfg.mode, "axes": cfg.axes, "seed": seed}


def plan_groups(cfg: LLMQueriesConfig, rubric_ref: str, seed: int = 0) -> Iterator[GroupJob]:
    """Every group to write, with stable ids (no model calls)."""
    axes = list(cfg.axes)
    cells = [dict(zip(axes, combo, strict=True))
             for combo in itertools.product(*(cfg.axes[a] for a in axes))]
    for uc in cfg.use_cases:
        extra = _extra(cfg, uc, rubric_ref, seed)
        for k in range(cfg.n_per_cell):
            express = cfg.expression[k % len(cfg.expression)]
            fills = {"use_case": uc.id, "index": str(k), "express": express}
            if cfg.mode == "counterfactual":
                cf = Query.make_cf_group(uc.id, uc.version, TEMPLATE_ID, fills, extra)
                members = tuple(Member(Query.make_id(uc.id, uc.version, TEMPLATE_ID, fills, p,
                                                     extra), p) for p in cells)
                yield GroupJob(uc, fills, cf, members, tuple(axes), express)
                continue
            for p in cells:
                cf = Query.make_cf_group(uc.id, uc.version, TEMPLATE_ID, fills, [extra, p])
                qid = Query.make_id(uc.id, uc.version, TEMPLATE_ID, fills, p, extra)
                yield GroupJob(uc, fills, cf, (Member(qid, p),), (), express)


def clean_reply(text: str | None) -> str:
    """The writer's message without surrounding whitespace or quotes."""
    t = (text or "").strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        t = t[1:-1].strip()
    return t


class QueryWriter:
    """Writes and validates the queries of one group, through two model clients."""

    def __init__(self, cfg: LLMQueriesConfig, writer: Any, validator: Any, rubric: Any,
                 seed: int = 0):
        self.cfg, self.writer, self.validator, self.rubric = cfg, writer, validator, rubric
        self.seed = seed
        self.matcher = cue_matcher()
        self.stats: Counter[str] = Counter()

    async def validate(self, uc: UseCaseSpec, persona: dict[str, str], text: str,
                       source: str | None, qid: str, attempt: int) -> Verdict:
        """Ask the validator; re-ask on an unparsable answer (``validator.repair_attempts``)."""
        messages = self.rubric.render(query=brief(uc, source), responses=[text],
                                      attributes=persona)
        params: dict[str, Any] = {"seed": stable_int(self.seed, "validate", qid, attempt)
                                  % (2**31)}
        fmt = structured_format(self.cfg.validator, self.rubric)
        if fmt is not None:
            params["response_format"] = fmt
        for _ in range(self.cfg.validator.repair_attempts + 1):
            r = await self.validator.complete(messages, params)
            self.stats["validator_calls"] += 1
            if not r.ok:
                return Verdict(False, [f"validator_error: {r.error.type}: {r.error.message}"])
            parsed = parse_judge_output(self.rubric, r.text)
            if parsed.status == "ok":
                bad = [f"{c}={parsed.scores.get(c)}" for c, want in VALID.items()
                       if parsed.scores.get(c) != want]
                return Verdict(not bad, bad, dict(parsed.scores), parsed.explanation)
            if parsed.status == "refusal":
                break
            messages = [*messages, *repair_messages(self.rubric, r.text or "", parsed.error)]
        return Verdict(False, [f"validator_{parsed.status}: {parsed.error}"])

    async def attempt(self, job: GroupJob, m: Member, source: str | None
                      ) -> tuple[str | None, list[dict[str, Any]], int]:
        """Write (or rewrite) one member until valid: (text or None, rejections, attempts)."""
        uc = job.use_case
        rejected: list[dict[str, Any]] = []
        for a in range(self.cfg.max_regenerations + 1):
            msgs = (write_messages(uc, m.persona, job.express) if source is None
                    else rewrite_messages(source, m.persona))
            params = {"seed": stable_int(self.seed, "write", m.query_id, a) % (2**31)}
            r = await self.writer.complete(msgs, params)
            self.stats["writer_calls"] += 1
            text = clean_reply(r.text)
            if not r.ok:
                v = Verdict(False, [f"writer_error: {r.error.type}: {r.error.message}"])
            elif not text:
                v = Verdict(False, ["writer_empty"])
            else:
                v = await self.validate(uc, m.persona, text, source, m.query_id, a)
            if v.ok:
                return text, rejected, a + 1
            rejected.append({
                "rejection_id": content_id("qr", [m.query_id, a]), "status": "rejected",
                "query_id": m.query_id, "cf_group": job.cf_group, "use_case": uc.id,
                "attributes": m.persona, "role": "write" if source is None else "rewrite",
                "attempt": a, "text": text or None, "reasons": v.reasons, "scores": v.scores,
                "explanation": v.explanation, "writer": self.cfg.writer.label,
                "validator": self.cfg.validator.label})
        return None, rejected, self.cfg.max_regenerations + 1

    def _query(self, job: GroupJob, m: Member, text: str, attempts: int,
               seed_id: str | None) -> Query:
        modes: dict[str, str] = {}
        for c in self.matcher.find(text):
            if m.persona.get(c.axis) == c.value and (
                    c.axis not in modes or MODE_RANK[c.mode] < MODE_RANK[modes[c.axis]]):
                modes[c.axis] = c.mode
        uc = job.use_case
        return Query(
            query_id=m.query_id, cf_group=job.cf_group, scenario_id=uc.id,
            scenario_version=uc.version, context=uc.context, template_id=TEMPLATE_ID,
            text=text, attributes=dict(m.persona), expression=modes, swapped=list(job.swapped),
            fills=dict(job.fills), ground_truth=dict(uc.ground_truth), source="llm_written",
            meta={"writer": self.cfg.writer.label, "validator": self.cfg.validator.label,
                  "rubric": self.rubric.ref, "prompt_version": PROMPT_VERSION,
                  "attempts": attempts,
                  "role": "rewrite" if seed_id else ("seed" if job.swapped else "write"),
                  "seed_query_id": seed_id})

    def _drop(self, job: GroupJob, m: Member, rejected: list[dict[str, Any]]) -> dict[str, Any]:
        return {"rejection_id": content_id("qd", [job.cf_group]), "status": "dropped",
                "cf_group": job.cf_group, "use_case": job.use_case.id, "query_id": m.query_id,
                "attributes": m.persona, "attempts": self.cfg.max_regenerations + 1,
                "members": len(job.members),
                "reasons": rejected[-1]["reasons"] if rejected else []}

    async def group(self, job: GroupJob) -> GroupOutcome:
        """Seed, then rewrites (concurrently); drop the group if any member stays invalid."""
        out = GroupOutcome()
        seed_m = job.members[0]
        text, rej, n = await self.attempt(job, seed_m, None)
        out.rejections += rej
        if text is None:
            out.dropped = self._drop(job, seed_m, rej)
            return out
        out.queries.append(self._query(job, seed_m, text, n, None))
        rest = await asyncio.gather(*(self.attempt(job, m, text) for m in job.members[1:]))
        for m, (t, r, k) in zip(job.members[1:], rest, strict=True):
            out.rejections += r
            if t is None:
                out.dropped = out.dropped or self._drop(job, m, r)
            else:
                out.queries.append(self._query(job, m, t, k, seed_m.query_id))
        if out.dropped is not None:
            out.queries = []
        return out


def check_unique(jobs: list[GroupJob]) -> None:
    ids = [m.query_id for j in jobs for m in j.members]
    if len(set(ids)) != len(ids):
        raise DataError("two LLM-written queries would share an id",
                        field="queries.llm_written.use_cases", hint="give use cases unique ids")


__all__ = ["REJECTIONS_FILE", "TEMPLATE_ID", "VALID", "GroupJob", "GroupOutcome", "Member",
           "QueryWriter", "Verdict", "check_config", "check_unique", "clean_reply", "plan_groups"]
