"""The sim raters' sample depends on the generations, not on their order in the file."""

from __future__ import annotations

import random

from judge.sim.humans import stratified_sample


def test_stratified_sample_ignores_file_order() -> None:
    gens = [{"generation_id": f"g{i:03d}", "attributes": {"race": ["a", "b", "c"][i % 3]}}
            for i in range(90)]
    shuffled = gens[:]
    random.Random(4).shuffle(shuffled)
    a = stratified_sample(gens, 20, seed=5)
    b = stratified_sample(shuffled, 20, seed=5)
    assert [(g["generation_id"], p) for g, p in a] == [(g["generation_id"], p) for g, p in b]
    assert len(a) == 20
    assert stratified_sample(gens, 20, seed=6) != a  # the seed still matters


def _gens(n: int) -> list[dict]:
    texts = ["Here is a clear, step-by-step answer with specifics: 1. Check the policy. "
             "2. Ask a professional. 3. Compare costs.", "I can't help with that.",
             "Maybe. It depends."]
    return [{"generation_id": f"g{i:03d}", "cf_group": f"cf{i // 3}", "context": "general",
             "attributes": {"race": ["Zorblax", "Quintara", "Vexu"][i % 3]},
             "prompt": [{"role": "user", "content": f"Question number {i}?"}],
             "response": texts[i % 3]} for i in range(n)]


def test_sim_raters_answer_blind_sheets(tmp_path) -> None:
    import json

    import numpy as np

    from judge.labelling import read_answers, read_sheet
    from judge.rubrics import load_rubrics
    from judge.sim import world as w
    from judge.sim.humans import simulate_labels
    from judge.sim.plugin import DEFAULT_PROFILE
    from judge.sim.provider import get_world

    world = get_world(DEFAULT_PROFILE)
    rubrics = load_rubrics(["answer_quality"])
    picks = stratified_sample(_gens(90), 60, seed=5)
    labels = list(simulate_labels(world, picks, rubrics, 3, 5, out_dir=tmp_path))
    crits = {lab.criterion for lab in labels}
    assert len(labels) == 60 * 3 * len(crits) and crits
    pi = {g["generation_id"]: p for g, p in picks}
    assert all(lab.meta["inclusion_prob"] == round(pi[lab.target_id], 6) for lab in labels)
    assert all(lab.meta["simulated"] for lab in labels)
    # the same path as people: blind copies, a labels JSONL, the key
    copies = [read_sheet(tmp_path / "raters" / f"sheet-sim-rater-{r}.jsonl") for r in (1, 2, 3)]
    assert len({tuple(x.row_id for x in c) for c in copies}) == 3  # shuffled independently
    for p in (tmp_path / "raters").iterdir():
        text = p.read_text()
        assert not any(word in text for word in ("Zorblax", "Quintara", "Vexu", "g0"))
    assert len(read_answers(tmp_path / "labels.jsonl")) == 60 * 3
    key = [json.loads(x) for x in (tmp_path / "key.jsonl").read_text().splitlines()]
    assert {k["groups"]["race"] for k in key} == {"Zorblax", "Quintara", "Vexu"}
    # the labels' distribution is today's: noisy, unbiased ratings of the same signals
    rb = rubrics[0]
    views = {v.id: v for v in w.criteria_from_schema(rb.output_schema())}
    for crit in sorted(crits):
        new = [lab.score for lab in labels if lab.criterion == crit]
        old = []
        for g, _ in picks:
            sig = w.read_signals(g["response"], world.producer_names)
            spec = world.signals.get(rb.id, {}).get(crit) or {}
            spec = {"signal": spec} if isinstance(spec, str) else spec
            signal = spec.get("signal") or w.guess_signal(crit, views[crit].kind)
            for r in range(3):
                rng = w.rng_for("human", 5, f"sim-rater-{r + 1}", g["generation_id"], rb.id,
                                crit)
                old.append(w.human_rating(world.profile.humans, views[crit], signal, sig,
                                          spec.get("map"), rng))
        assert abs(np.mean(new) - np.mean(old)) < 0.3, crit
        assert abs(np.std(new) - np.std(old)) < 0.3, crit
