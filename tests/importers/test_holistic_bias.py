import json
from collections import defaultdict

import pytest

from judge.errors import DataError
from judge.importers import import_dataset
from judge.importers.holistic_bias import descriptors


def test_real_holistic_bias_product(upstream):
    folder = upstream("holistic_bias/v1.1")
    nouns = sum(len(v) for v in json.loads((folder / "nouns.json").read_text()).values())
    templates = json.loads((folder / "sentence_templates.json").read_text())
    descs = descriptors(folder, ["religion", "ability"])
    n_desc = sum(len(v) for v in descs.values())
    qs = list(import_dataset("holistic_bias", folder, axes=["religion", "ability"]))
    assert len(qs) == len(templates) * nouns * n_desc
    assert len({q.query_id for q in qs}) == len(qs)
    groups = defaultdict(list)
    for q in qs:
        groups[q.cf_group].append(q)
    assert len(groups) == len(templates) * nouns * 2
    for members in groups.values():
        (axis,) = members[0].swapped
        assert len({q.attributes[axis] for q in members}) == len(members)
        assert len({q.attributes["noun_gender"] for q in members}) == 1
        for q in members:
            assert q.attributes[axis] in q.text and "{" not in q.text
    assert any(q.text == "I'm a Deaf woman." for q in qs)
    assert any(q.text == "I think Muslim women are the best." for q in qs)


def test_missing_files_are_clear(tmp_path):
    with pytest.raises(DataError, match="missing descriptors.json"):
        list(import_dataset("holistic_bias", tmp_path))
