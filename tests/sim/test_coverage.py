"""Coverage study in the embedded sim/ world: the fast path is the pipeline's world, the
planted truth is the world's own, and the 95% intervals cover it (the naive gap does not)."""

from __future__ import annotations

from functools import partial

import pandas as pd
import pytest

from judge.calibration import coverage_study, format_coverage
from judge.sim.coverage import quality_distribution, sim_items, simulate_sim_world


@pytest.fixture(scope="module")
def items():
    return sim_items(7, n_groups=6)


def test_fast_path_judge_scores_equal_the_pipeline_sim_judge(items):
    """Messages and params built as the score stage builds them, answered by the provider."""
    from judge.config import GeneratorSpec, JudgeSpec
    from judge.llm import structured
    from judge.llm.structured import structured_format
    from judge.rubric import load_rubric, parse_judge_output
    from judge.sim.coverage import SIM_STRUCTURED_OUTPUT
    from judge.sim.provider import get_world, register
    from judge.tasks.generate import generation_params
    from judge.tasks.judging import judge_params

    rb = load_rubric("answer_quality")
    # the fast path states the mode; the pipeline decides it (sim registered with litellm)
    register(models=["sim/judge"])
    assert structured.known(JudgeSpec(model="sim/judge")).mode == SIM_STRUCTURED_OUTPUT
    spec = JudgeSpec(model="sim/judge", structured_output=SIM_STRUCTURED_OUTPUT)
    world = get_world()
    checked = 0
    for row in items.head(12).itertuples():
        params = judge_params(spec, 7, 0)
        params["response_format"] = structured_format(spec, rb, 1)
        messages = rb.render(query=row.query, responses=[row.response],
                             attributes=row.attributes)
        reply = world.complete("sim/judge", messages, params)
        pr = parse_judge_output(rb, reply.text, n_responses=1)
        assert pr.status == "ok"
        assert pr.scores["helpfulness"] == row.score
        gen = world.complete("sim/generator", row.prompt,
                             generation_params(GeneratorSpec(model="sim/generator"), row.sample, 7))
        assert gen.text == row.response
        checked += 1
    assert checked == 12
    assert items.score.nunique() >= 3  # the judge spreads over the scale


def test_item_expectations_are_the_worlds_planted_values(items):
    from judge.rubric import load_rubric
    from judge.sim.provider import get_world, planted_item_bias, planted_item_human

    rb, world = load_rubric("answer_quality"), get_world()
    for row in items.itertuples():
        assert row.e_jh == pytest.approx(planted_item_bias(
            world, "sim/judge", rb, "helpfulness", row.response, row.query))
        assert row.e_h == pytest.approx(planted_item_human(world, rb, "helpfulness",
                                                           row.response))
    black = items[items["group.race"] == "Black"].e_jh.mean()
    white = items[items["group.race"] == "White"].e_jh.mean()
    assert -0.40 < black - white < -0.15  # planted -0.35, shrunk by clipping at 1 and 5


def test_quality_distribution_matches_the_generator(items):
    """The exact per-query oracle against 2,000 draws of the sim generator per query."""
    import numpy as np

    from judge.sim import world as w
    from judge.sim.provider import get_world

    world = get_world()
    prof = world.profile.generator("generator")
    picks = items.drop_duplicates("query").groupby("group.race").head(1)
    picks = pd.concat([picks, items[items["query"].str.contains("recommend", case=False)].head(1)])
    for text in picks["query"]:
        attrs, modes = world.detector.detect(text)
        p = quality_distribution(prof, text, attrs, world.producers)
        rng = np.random.default_rng(0)
        draws = [w.read_signals(w.generate_response(prof, text, attrs, modes, rng,
                                                    world.producers))["quality"]
                 for _ in range(2000)]
        freq = np.bincount(np.array(draws, dtype=int), minlength=6)[1:] / len(draws)
        assert p.sum() == pytest.approx(1.0)
        assert np.abs(freq - p).max() < 0.035, text


def test_simulate_shapes_and_truth():
    j, h, truth = simulate_sim_world(3, n_groups=40, labelled_fraction=0.5)
    assert truth["reference"] == "White" and truth["attribute"] == "race"
    assert set(truth["group_gap"]) == set(j["group.race"]) - {"White"}
    assert set(truth["inclusion_prob"]) == set(h.item_id) <= set(j.item_id)
    assert h.groupby("item_id").rater.nunique().eq(3).all()
    assert j.score.between(1, 5).all() and h.score.between(1, 5).all()
    assert all(0 < p <= 1 for p in truth["inclusion_prob"].values())
    assert truth["differential_bias"]["Black"] < -0.15


def test_coverage_fast_in_sim_world():
    sim = partial(simulate_sim_world, n_groups=60)
    # 40 seeds x 3 gaps: a coverage's standard error is about 0.02, so the 0.88-0.99 band is
    # three of them either side of 0.95 (measured: ppi 0.933, ppi_cluster_bootstrap 0.917,
    # ppi_isotonic 0.942, differential bias 0.958); bench/calibration_coverage.py runs 200
    res = coverage_study(sim, 40, B=400)
    print(format_coverage(res, by_group=True))
    assert 0.88 <= res["differential_bias"]["coverage"] <= 0.99
    for est in ("ppi", "ppi_cluster_bootstrap", "ppi_isotonic"):
        assert 0.88 <= res["gap"][est]["coverage"] <= 0.99, est
    naive = res["gap"]["judge_only"]
    assert naive["coverage"] < res["gap"]["ppi"]["coverage"] - 0.1
    assert naive["by_group"]["Black"]["coverage"] < 0.6  # planted judge bias -0.35
    assert abs(res["gap"]["ppi"]["mean_error"]) < 0.05 < -naive["by_group"]["Black"]["mean_error"]
