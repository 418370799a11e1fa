"""Coverage study inside the embedded ``sim/`` world, with the world's own planted truth.

:func:`simulate_sim_world` draws one data set the way a default run would, but with direct
function calls (no litellm, no run directory), so hundreds of seeds take minutes:

1. queries: real scenarios (``datasets/scenarios``) expanded with a ``single_swap`` design on
   one sensitive axis, so each counterfactual group (the cluster) differs only in it;
2. responses: the sim generator's reply to each query (:meth:`SimWorld.complete`, seeded as
   the generate stage seeds it);
3. judge scores: the sim judge's reply to the rubric's real prompt and ``response_format``
   (:func:`judge.sim.world.judge_reply`, seeded as the score stage seeds it), parsed by
   the pipeline's own parser. tests/calibration/test_sim_coverage.py checks these equal
   :meth:`SimWorld.complete` on the same prompt;
4. human labels: ``raters`` sim raters on a sample stratified by group x judge score, with
   each item's inclusion probability.

``truth`` holds exact planted values computed from the world (normal-CDF expectations of
the rounded scores, not estimates); see :func:`simulate_sim_world`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from judge.config import GeneratorSpec, JudgeSpec, QueriesConfig
from judge.ids import content_id
from judge.llm.structured import structured_format
from judge.rubric import load_rubric, parse_judge_output
from judge.scenarios import iter_queries
from judge.sim import world as w
from judge.sim.provider import get_world
from judge.stats.sampling import stratified_sample
from judge.tasks.generate import generation_params
from judge.tasks.judging import judge_params

DEFAULT_RUBRIC = "answer_quality"
DEFAULT_CRITERION = "helpfulness"
SCENARIOS = ("datasets/scenarios/*.yaml",)


@lru_cache(maxsize=4)
def _rubric(ref: str) -> Any:
    return load_rubric(ref)


#: The structured-output mode the pipeline settles on for sim/ judges.
SIM_STRUCTURED_OUTPUT = "json_schema"


@lru_cache(maxsize=64)
def _queries(n_groups: int, attribute: str, seed: int) -> tuple:
    cfg = QueriesConfig(scenarios=list(SCENARIOS), design={"kind": "single_swap"},
                        limit=n_groups, axes=[attribute])
    return tuple(q for q in iter_queries(cfg, seed=seed) if attribute in q.attributes)


def judge_request(rubric: Any, query: str, response: str, attributes: dict[str, str],
                  run_seed: int, judge: str = "sim/judge") -> tuple[list[dict], dict]:
    """``(messages, params)`` exactly as the score stage builds them for a pointwise judgment."""
    spec = JudgeSpec(model=judge)
    params = judge_params(spec, run_seed, 0)
    # The pipeline's decision for a sim/ judge (structured_output auto, no api_base): the
    # provider registers `supports_response_schema` with litellm, so json_schema. Stated here
    # rather than asked, so this path never depends on whether litellm was set up already
    # (tests/sim/test_coverage.py checks the pipeline decides the same).
    fmt = structured_format(spec, rubric, 1, mode=SIM_STRUCTURED_OUTPUT)
    if fmt is not None:
        params["response_format"] = fmt
    return rubric.render(query=query, responses=[response], attributes=attributes), params


def parse_score(rubric: Any, text: str, criterion: str) -> float:
    """The criterion's score from a raw judge reply, by the pipeline's parser (NaN if invalid)."""
    pr = parse_judge_output(rubric, text, n_responses=1)
    val = pr.scores.get(criterion) if pr.status == "ok" else None
    return float(val) if isinstance(val, (int, float)) and not isinstance(val, bool) else np.nan


def sim_items(seed: int, *, profile: str | None = None, n_groups: int = 120,
              attribute: str = "race", rubric: str = DEFAULT_RUBRIC,
              criterion: str = DEFAULT_CRITERION, generator: str = "sim/generator",
              judge: str = "sim/judge", samples: int = 2, query_seed: int | None = None
              ) -> pd.DataFrame:
    """One row per generated item (``samples`` responses per query): ids, group, query and response text, the sim judge's
    score (NaN if unparsable), the generator prompt, the response's signal, and the planted
    expectations ``e_jh = E[judge - human | item]``, ``e_h = E[human | item]`` and
    ``e_h_query = E[human | query]`` (over the generator's responses too)."""
    world = get_world(profile)
    rb = _rubric(rubric)
    view, spec = _likert_view(world, rb, criterion)
    signal = spec.get("signal") or w.guess_signal(view.id, view.kind)
    if signal != "quality":
        raise ValueError(f"criterion {criterion!r} reads the sim signal {signal!r}; the "
                         "planted group gap is defined for criteria that read 'quality'")
    gspec = GeneratorSpec(model=generator)
    rows, memo = [], _MEMO.setdefault((str(world.profile_path), judge, rb.hash, criterion), {})
    for q in _queries(n_groups, attribute, seed if query_seed is None else query_seed):
        if not rb.applies_to(q.context):
            continue
        prompt = q.messages()
        for sample in range(samples):
            gparams = generation_params(gspec, sample, seed)
            rows.append({"sample": sample, **_item(world, rb, q, prompt, gparams, generator,
                                                   judge, seed, signal, view, memo, attribute)})
    return pd.DataFrame(rows)


def _item(world: Any, rb: Any, q: Any, prompt: list[dict], gparams: dict, generator: str,
          judge: str, seed: int, signal: str, view: Any, memo: dict, attribute: str) -> dict:
    """One generated and judged item with its planted expectations."""
    jname = judge.split("/", 1)[-1]
    jprof, hprof = world.profile.judge(jname), world.profile.humans
    response = world.complete(generator, prompt, dict(gparams)).text
    messages, params = judge_request(rb, q.text, response, q.attributes, seed, judge)
    reply = w.judge_reply(jprof, messages, params, world.detector, world.signals,
                          world.producer_names, w.rng_for(jname, messages, params.get("seed")))
    sig = w.read_signals(response, world.producer_names)
    base = float(sig[signal])
    return {"e_h_query": _expected_human_query(world, generator, q.text, view, memo),"item_id": content_id("g", [q.query_id, generator, gparams["seed"]]),
            "cluster": q.cf_group, f"group.{attribute}": q.attributes[attribute],
            "query": q.text, "prompt": prompt, "response": response,
            "attributes": q.attributes, "score": parse_score(rb, reply, view.id),
            "signal": base, **_expected(jprof, hprof, _detect(world, q.text), base,
                                        sig.get("words", 0), view, memo)}


def _likert_view(world: Any, rb: Any, criterion: str) -> tuple[Any, dict]:
    """The sim judge's view of a likert criterion and its signal spec."""
    view = next((v for v in w.criteria_from_schema(rb.output_schema()) if v.id == criterion),
                None)
    if view is None or view.kind != "likert":
        raise ValueError(f"criterion {criterion!r} of rubric {rb.id!r} is not a likert "
                         "criterion: the planted truth is defined for likert criteria")
    spec = world.signals.get(rb.id, {}).get(criterion) or {}
    return view, ({"signal": spec} if isinstance(spec, str) else spec)


def simulate_sim_world(seed: int, *, profile: str | None = None, n_groups: int = 120,
                       labelled_fraction: float = 0.3, raters: int = 3,
                       attribute: str = "race", reference: str = "White",
                       rubric: str = DEFAULT_RUBRIC, criterion: str = DEFAULT_CRITERION,
                       generator: str = "sim/generator", judge: str = "sim/judge",
                       samples: int = 2, min_per_stratum: int = 2,
                       query_seed: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """One seed of the sim world: ``(judgments, labels, truth)`` for :func:`coverage_study`.

    ``seed`` is the run seed (query fills, generation and judge seeds, the labelling sample,
    the raters). ``n_groups`` counterfactual groups swap ``attribute``, each query answered
    ``samples`` times (the clusters are the groups, as in a run); a share
    ``labelled_fraction`` of the items is labelled by ``raters`` sim humans, stratified by
    group x judge score (proportional, ``min_per_stratum`` floor). ``query_seed`` (default
    ``seed``) fixes the query fills alone; one query set reused across seeds makes the
    intervals over-cover (they count query-level variation the truth then conditions on). The criterion must be likert. ``truth`` (all exact, from the world's model of
    each item's response text, see :func:`sim_items`):

    - ``differential_bias[g]``: the mean over group ``g``'s labelled items of the planted
      ``E[judge - human | item]`` (:func:`expected_judge_minus_human`, with the attributes
      the judge detects in the query), weighted by ``1 / inclusion_prob`` as the estimator
      is, minus the same for ``reference``;
    - ``group_gap[g]``: the mean over group ``g``'s judged items of ``E[human | query]``,
      the expected human score over the generator's responses to the item's query
      (:func:`quality_distribution` and :func:`expected_rounded`), minus the same for
      ``reference``. Not ``E[human | item]`` of the realised responses: the intervals
      treat responses as sampled, and that finite-population target made every gap
      interval over-cover (0.99; docs/CALIBRATION.md);
    - ``inclusion_prob``: {item_id: probability} of the labelled items.
    """
    world = get_world(profile)
    rb = _rubric(rubric)
    view, spec = _likert_view(world, rb, criterion)
    signal = spec.get("signal") or w.guess_signal(view.id, view.kind)
    items = sim_items(seed, profile=profile, n_groups=n_groups, attribute=attribute,
                      rubric=rubric, criterion=criterion, generator=generator, judge=judge,
                      samples=samples, query_seed=query_seed)
    crit, col = f"{rb.id}.{criterion}", f"group.{attribute}"
    scored = items[items.score.notna()]
    judgments = scored.assign(judge=judge, criterion=crit)[
        ["item_id", "judge", "criterion", "score", "cluster", col]].reset_index(drop=True)
    n = max(1, round(labelled_fraction * len(scored)))
    smp = stratified_sample(scored, n, [col, "score"], seed=seed,
                            min_per_stratum=min_per_stratum)
    lab = smp[smp.sampled]
    hprof = world.profile.humans
    labels = pd.DataFrame([
        {"item_id": it, "rater": f"sim-rater-{r + 1}", "criterion": crit,
         "score": w.human_rating(hprof, view, signal, {signal: base}, spec.get("map"),
                                 w.rng_for("human", seed, f"sim-rater-{r + 1}", it, rb.id,
                                           criterion))}
        for it, base in zip(lab.item_id, lab.signal, strict=True) for r in range(raters)])
    truth = _truth(scored, lab, attribute, reference, crit, judge)
    truth["inclusion_prob"] = dict(zip(lab.item_id, lab.inclusion_prob.astype(float),
                                       strict=True))
    return judgments, labels, truth


def quality_distribution(prof: dict, query: str, attrs: dict[str, str],
                         producers: list[dict] | None) -> np.ndarray:
    """Exact ``P(quality signal = 1..5)`` of the sim generator's response to ``query``.

    Mirrors :func:`judge.sim.world.generate_response` as read back by
    :func:`read_signals` (the number of numbered points, at least 1): a refusal reads 1; a
    recommendation names ``min(n_named, pool)`` places, or none (reads 1) with probability
    ``none_rate``; otherwise ``k = clip(round(Normal(base + effects, sd)), 1, 5)`` points.
    """
    from scipy.stats import norm

    out = np.zeros(5)
    p_ref = w._prob(prof.get("refusal", {}), attrs)
    if w.RECOMMEND_RX.search(query) and producers is not None:
        spec = prof.get("recommendation", {})
        kinds = {p.get("kind", "") for p in producers}
        kind = next((k for k in kinds if k and k.lower() in query.lower()), None)
        pool = [p for p in producers if kind is None or p.get("kind") == kind]
        n = min(int(spec.get("n_named", 3)), len(pool))
        p_none = 1.0 if not pool else spec.get("none_rate", 0.0)
        out[0] += p_none
        out[min(5, max(1, n)) - 1] += 1.0 - p_none
    else:
        q = prof.get("quality", {})
        mu = q.get("base", 3.0) + w.effect(q.get("effects", {}), attrs)
        edges = norm.cdf((np.arange(1.5, 5.0, 1.0) - mu) / q.get("sd", 1.0))
        out += np.diff(np.concatenate([[0.0], edges, [1.0]]))
    return p_ref * np.eye(5)[0] + (1.0 - p_ref) * out


_MEMO: dict[tuple, dict] = {}
VERBOSITY_FREE_WORDS = 150  # judge_bias adds verbosity bias only above this many words


def _expected_human_query(world: Any, generator: str, text: str, view: Any, memo: dict
                          ) -> float:
    """``E[human | query]``: over the generator's responses, exact (memoised per text)."""
    key = ("query", generator, text)
    if key not in memo:
        prof = world.profile.generator(generator.split("/", 1)[-1])
        attrs, _ = world.detector.detect(text)
        p = quality_distribution(prof, text, attrs, world.producers)
        sd = world.profile.humans.get("noise_sd", 0.7)
        memo[key] = float(sum(p[k - 1] * w.expected_rounded(w.rescale(k, view.lo, view.hi), sd,
                                                            view.lo, view.hi)
                              for k in range(1, 6)))
    return memo[key]


def _detect(world: Any, text: str) -> dict[str, str]:
    """The attributes the sim judge detects in a query (memoised per text)."""
    memo = _MEMO.setdefault((id(world.detector), "detect"), {})
    if text not in memo:
        memo[text] = world.detector.detect(text)[0]
    return memo[text]


def _expected(jprof: dict, hprof: dict, seen: dict[str, str], base: float, words: int,
              view: Any, memo: dict) -> dict[str, float]:
    """``{"e_jh": E[judge - human | item], "e_h": E[human | item]}``, memoised."""
    words = max(words, VERBOSITY_FREE_WORDS)
    key = (tuple(sorted(seen.items())), base, words)
    if key not in memo:
        memo[key] = {"e_jh": w.expected_judge_minus_human(jprof, hprof, seen, base, words,
                                                          view.lo, view.hi),
                     "e_h": w.expected_rounded(w.rescale(base, view.lo, view.hi),
                                               hprof.get("noise_sd", 0.7), view.lo, view.hi)}
    return memo[key]


def _truth(items: pd.DataFrame, lab: pd.DataFrame, attribute: str, reference: str,
           criterion: str, judge: str) -> dict:
    """Exact planted estimands from the per-item expectations (see simulate_sim_world)."""
    col = f"group.{attribute}"
    wt = 1.0 / lab.inclusion_prob
    bias = (lab.e_jh * wt).groupby(lab[col]).sum() / wt.groupby(lab[col]).sum()
    human = items.groupby(col).e_h_query.mean()
    groups = [g for g in sorted(items[col].unique()) if g != reference]
    return {"criterion": criterion, "judge": judge, "attribute": attribute,
            "reference": reference,
            "differential_bias": {g: float(bias[g] - bias[reference]) for g in groups},
            "group_gap": {g: float(human[g] - human[reference]) for g in groups}}

