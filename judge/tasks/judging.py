"""What the score stage judges: tasks for each rubric mode and each invariance probe.

- pointwise: every successful generation, alone.
- pairwise: within a counterfactual group (same generator and sample), each member
  against the group's anchor member, in both orders (position consistency).
- counterfactual_set: all members of a group together, in ``SET_ROTATIONS`` rotated orders.
- probes (pointwise rubrics only): ``attribute_swap`` re-judges a response while showing the
  query of another group member (a different sensitive attribute); ``verbosity`` pads the
  response with neutral filler. Probe judgments carry ``probe`` and ``probe_meta``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from judge.config import JudgeSpec
from judge.ids import stable_int
from judge.records import Judgment

SET_ROTATIONS = 2
PROBES = ("attribute_swap", "verbosity", "position_swap")
FILLER = ("To give some general context, it is worth noting that decisions like this are "
          "common, and many people in similar situations take time to read about the options "
          "available to them, talk to friends or family, and think through what matters most "
          "before moving forward. None of this changes the substance of the advice above, but "
          "it may help to keep in mind that there is rarely a single perfect answer, and that "
          "being thoughtful and patient usually pays off over time. ")


@dataclass
class JudgeTask:
    """One judgment to make: targets, the text shown to the judge, and its identity."""

    judgment_id: str
    gens: list[dict[str, Any]]
    spec: JudgeSpec
    rubric: Any
    repeat: int
    query_text: str
    responses: list[str]
    probe: str | None = None
    probe_meta: dict[str, Any] = field(default_factory=dict)
    order: list[int] | None = None  # original index of the response shown at each position


def judge_params(spec: JudgeSpec, run_seed: int, repeat: int) -> dict[str, Any]:
    """Temperature 0 and a fixed seed by default; each repeat gets its own seed."""
    params: dict[str, Any] = {"temperature": 0}
    params.update(spec.params)
    params["seed"] = int(params.get("seed", _judge_seed(run_seed))) + repeat
    return params


@lru_cache(maxsize=64)
def _judge_seed(run_seed: int) -> int:
    return stable_int("judge", run_seed) % (2**31)


def query_text_of(gen: dict[str, Any]) -> str:
    return next((m["content"] for m in reversed(gen["prompt"]) if m["role"] == "user"), "")


def slim(gen: dict[str, Any]) -> dict[str, Any]:
    """The fields of a generation that judging needs (kept in memory for group modes)."""
    keys = ("generation_id", "query_id", "cf_group", "scenario_id", "context", "attributes",
            "model", "sample", "response", "prompt")
    return {k: gen.get(k) for k in keys}


def _task(gens: list[dict[str, Any]], spec: JudgeSpec, rb: Any, rep: int, run_seed: int,
          query_text: str, responses: list[str], probe: str | None = None,
          meta: dict[str, Any] | None = None, order: list[int] | None = None) -> JudgeTask:
    """``gens`` in canonical order; ``responses`` as shown (``order`` maps them back)."""
    meta = dict(meta or {})
    if order is not None and order != list(range(len(order))):
        meta["presented_order"] = list(order)
    jid = Judgment.make_id([g["generation_id"] for g in gens], spec.model,
                           judge_params(spec, run_seed, 0), f"{rb.ref}#{rb.hash}", probe, meta,
                           rep)
    return JudgeTask(jid, gens, spec, rb, rep, query_text, responses, probe, meta, order)


def pointwise_tasks(gen: dict[str, Any], judges: list[JudgeSpec], rubrics: list[Any],
                    run_seed: int, probes: Iterable[str] = (),
                    swap_partner: dict[str, Any] | None = None) -> Iterator[JudgeTask]:
    """Tasks for one generation: each pointwise rubric × judge × repeat, plus probes."""
    text = query_text_of(gen)
    resp = gen.get("response") or ""
    for spec in judges:
        for rb in rubrics:
            if rb.mode != "pointwise" or not rb.applies_to(gen["context"]):
                continue
            for rep in range(spec.repeats):
                yield _task([gen], spec, rb, rep, run_seed, text, [resp])
            if "verbosity" in probes:
                padded = f"{resp}\n\n{FILLER}"
                yield _task([gen], spec, rb, 0, run_seed, text, [padded], "verbosity",
                            {"filler_words": len(FILLER.split())})
            if "attribute_swap" in probes and swap_partner is not None:
                yield _task([gen], spec, rb, 0, run_seed, swap_partner["text"], [resp],
                            "attribute_swap",
                            {"shown_query_id": swap_partner["query_id"],
                             "shown_attributes": swap_partner["attributes"]})


def anchor_index(members: list[dict[str, Any]], reference: dict[str, str]) -> int:
    """The member whose attributes match the most reference levels (ties: first by id)."""
    def score(g: dict[str, Any]) -> tuple[int, str]:
        attrs = g.get("attributes") or {}
        return (-sum(attrs.get(a) == v for a, v in reference.items()), g["generation_id"])
    return min(range(len(members)), key=lambda i: score(members[i]))


def group_tasks(groups: dict[tuple[str, str, int], list[dict[str, Any]]], judges: list[JudgeSpec],
                rubrics: list[Any], run_seed: int, reference: dict[str, str],
                probes: Iterable[str] = ()) -> Iterator[JudgeTask]:
    """Pairwise and counterfactual_set tasks over counterfactual groups."""
    for (_, _, _), members in sorted(groups.items()):
        members = sorted(members, key=lambda g: g["query_id"])
        if len(members) < 2:
            continue
        ctx = members[0]["context"]
        for spec in judges:
            for rb in rubrics:
                if not rb.applies_to(ctx):
                    continue
                if rb.mode == "pairwise":
                    a = anchor_index(members, reference)
                    for i, other in enumerate(members):
                        if i == a:
                            continue
                        pair = [members[a], other]
                        for order in ([0, 1], [1, 0]):
                            shown = [pair[k] for k in order]
                            yield _task(pair, spec, rb, 0, run_seed, query_text_of(shown[0]),
                                        [g["response"] or "" for g in shown],
                                        "position_swap" if order == [1, 0] else None,
                                        None, order)
                elif rb.mode == "counterfactual_set":
                    n = len(members)
                    for r in range(min(SET_ROTATIONS, n)):
                        shift = (r * max(1, n // SET_ROTATIONS)) % n
                        order = [(shift + k) % n for k in range(n)]
                        shown = [members[k] for k in order]
                        yield _task(members, spec, rb, 0, run_seed, query_text_of(shown[0]),
                                    [g["response"] or "" for g in shown], None, None, order)


def build_groups(gens: Iterable[dict[str, Any]]) -> dict[tuple[str, str, int], list[dict[str, Any]]]:
    """Successful generations grouped by (cf_group, generator, sample)."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for g in gens:
        groups[(g["cf_group"], g["model"], g["sample"])].append(g)
    return groups


def swap_partners(queries: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """For each query, the next member of its counterfactual group (by id), for attribute_swap."""
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for q in queries:
        by_group[q["cf_group"]].append({"query_id": q["query_id"], "text": q["text"],
                                        "attributes": q.get("attributes", {})})
    out = {}
    for members in by_group.values():
        members.sort(key=lambda m: m["query_id"])
        for i, m in enumerate(members):
            if len(members) > 1:
                out[m["query_id"]] = members[(i + 1) % len(members)]
    return out
