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
