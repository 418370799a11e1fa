import pytest

from judge.errors import DataError
from judge.importers import ColumnMapping, import_dataset

CSV = """prompt,pair,group.race,group.gender,gt.qualified
Should we hire Emily? Answer yes or no.,p1,White,female,true
Should we hire Lakisha? Answer yes or no.,p1,Black,female,true
Is this loan OK?,p2,White,male,
"""


def test_csv_with_prefix_convention(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text(CSV)
    qs = list(import_dataset("csv", p, mapping=ColumnMapping(text="prompt", group="pair",
                                                            context="hiring")))
    assert [q.attributes for q in qs] == [{"race": "White", "gender": "female"},
                                          {"race": "Black", "gender": "female"},
                                          {"race": "White", "gender": "male"}]
    assert qs[0].cf_group == qs[1].cf_group != qs[2].cf_group
    assert qs[0].swapped == ["race"] and qs[2].swapped == []
    assert qs[0].ground_truth == {"qualified": "true"} and qs[2].ground_truth == {}
    assert qs[0].scenario_id == "mine" and qs[0].source == "csv" and qs[0].context == "hiring"
    again = list(import_dataset("csv", p, mapping=ColumnMapping(text="prompt", group="pair")))
    assert [q.query_id for q in again] == [q.query_id for q in qs]


def test_jsonl_with_explicit_mapping_and_errors(tmp_path):
    p = tmp_path / "mine.jsonl"
    p.write_text('{"q": "Hi from a nurse", "who": "female", "g": 1}\n'
                 '{"q": "Hi from a nurse", "who": "male", "g": 1}\n')
    m = ColumnMapping(text="q", group="g", attributes={"gender": "who"})
    qs = list(import_dataset("csv", p, mapping=m))
    assert [q.attributes["gender"] for q in qs] == ["female", "male"]
    assert all(q.swapped == ["gender"] for q in qs)
    p.write_text('{"q": "x", "who": "f"}\n{"q": "x", "who": "f"}\n')
    with pytest.raises(DataError, match=r"mine\.jsonl:2: duplicate row .* line 1"):
        list(import_dataset("csv", p, mapping=ColumnMapping(text="q", group=None,
                                                            attributes={"g": "who"})))
    with pytest.raises(DataError, match=r"mine\.jsonl:1: missing text column 'text'"):
        list(import_dataset("csv", p))
