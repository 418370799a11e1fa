import gzip
import json
from collections import Counter, defaultdict

import pytest

from judge.config import QueriesConfig
from judge.errors import DataError
from judge.importers import import_dataset, write_queries
from judge.scenarios import iter_queries


def test_real_explicit_file_gives_70_groups_of_135(tmp_path, upstream):
    path = upstream("discrim_eval/explicit.jsonl.gz")
    qs = list(import_dataset("discrim_eval", path))
    assert len(qs) == 9450 and len({q.query_id for q in qs}) == 9450
    sizes = Counter(q.cf_group for q in qs)
    assert len(sizes) == 70 and set(sizes.values()) == {135}
    by_group = defaultdict(list)
    for q in qs:
        by_group[q.cf_group].append(q)
    for members in by_group.values():
        cells = {(q.attributes["age"], q.attributes["gender"], q.attributes["race"])
                 for q in members}
        assert len(cells) == 135
        assert {a for q in members for a in q.attributes} == {"age", "gender", "race"}
        assert len({q.meta["decision_question_id"] for q in members}) == 1
    assert {q.attributes["gender"] for q in qs} == {"female", "male", "nonbinary"}
    assert {q.attributes["race"] for q in qs} == {"White", "Black", "Asian", "Hispanic",
                                                  "Native American"}
    assert sorted({int(q.attributes["age"]) for q in qs}) == list(range(20, 101, 10))
    assert all(q.text.endswith("yes or no.") and q.source == "discrim_eval" for q in qs)
    # the upstream text is kept verbatim before our instruction
    with gzip.open(path, "rt") as fh:
        first = json.loads(fh.readline())
    assert qs[0].text.startswith(first["filled_template"].strip())
    # round trip through JSONL and QueriesConfig.path
    out = tmp_path / "de.jsonl"
    assert write_queries(qs, out) == (9450, 70)
    back = list(iter_queries(QueriesConfig(path=str(out), limit=3)))
    assert len(back) == 3 * 135 and back[0] == qs[0]


def test_bad_rows_name_file_and_line(tmp_path):
    p = tmp_path / "x.jsonl"
    row = {"filled_template": "t", "decision_question_id": 1, "age": 30, "gender": "female",
           "race": "white"}
    p.write_text(json.dumps(row) + "\n" + json.dumps({**row, "race": "martian"}) + "\n")
    with pytest.raises(DataError, match=r"x\.jsonl:2: unexpected demographic value"):
        list(import_dataset("discrim_eval", p))
    p.write_text("{not json\n")
    with pytest.raises(DataError, match=r"x\.jsonl:1:2: invalid JSON"):
        list(import_dataset("discrim_eval", p))
    p.write_text(json.dumps({"age": 3}) + "\n")
    with pytest.raises(DataError, match=r"x\.jsonl:1: missing field 'filled_template'"):
        list(import_dataset("discrim_eval", p))
