"""judge.ids and the record id recipes.

The expected ids below are literal strings copied once from a run of the recipe. They are
never recomputed here: a changed recipe (hash, prefix, length, field order, canonical JSON)
changes every id in existing run directories, so resumes would redo every call and stored
human labels would stop matching. If one of these fails on purpose, the change needs a
migration, not a new literal.
"""

import doctest
import hashlib

import judge.ids as ids
from judge.records import Generation, HumanLabel, Judgment, Query

QUERY_ARGS = ("loan", "1", "main", {"amount": "5000"}, {"race": "Black"})
QID = "q-833a2bee64017a09561d"
GID = "g-868f080067b7112b1b83"


def test_doctests():
    assert doctest.testmod(ids).failed == 0


def test_canonical_json_ignores_key_order_and_is_unicode():
    assert ids.canonical_json({"b": 1, "a": "é"}) == ids.canonical_json({"a": "é", "b": 1})
    assert "é" in ids.canonical_json({"a": "é"})


def test_content_id_is_sha256_of_literal_canonical_json():
    # The recipe spelled out once, by hand: sorted keys, no spaces, raw unicode, sha256, 20 hex.
    text = '{"é":[1,2.5,null]}'
    assert ids.canonical_json({"é": [1, 2.5, None]}) == text
    assert hashlib.sha256(text.encode("utf-8")).hexdigest()[:20] == "8b726b3b88cec9e59875"
    assert ids.content_id("x", {"é": [1, 2.5, None]}) == "x-8b726b3b88cec9e59875"


def test_query_ids_are_fixed_literals():
    assert Query.make_id(*QUERY_ARGS) == QID
    assert Query.make_id(*QUERY_ARGS, extra={"k": 1}) == "q-09b78463138dd7073d67"
    # key order of the fills and attributes does not matter
    assert Query.make_id("loan", "1", "main", {"amount": "5000"}, {"race": "Black"}) == QID


def test_cf_group_is_a_fixed_literal_and_excludes_sensitive_attributes():
    assert Query.make_cf_group("loan", "1", "main", {"amount": "5000"}) == \
        "cf-1bca69891bea158824a5"
    other = Query.make_cf_group("loan", "1", "main", {"amount": "9000"})
    assert other != "cf-1bca69891bea158824a5" and other.startswith("cf-")


def test_generation_ids_are_fixed_literals():
    params = {"seed": 1, "temperature": 0.7}
    assert Generation.make_id(QID, "sim/generator", params, 0) == GID
    assert Generation.make_id(QID, "sim/generator", params, 1) == "g-53d0c18f0d9ae5d39ac0"


def test_judgment_ids_are_fixed_literals():
    assert Judgment.make_id([GID], "sim/judge", {"temperature": 0}, "decision_dev@1.0.0", None,
                            {}, 0) == "j-9938a204f9b21c56eacd"
    assert Judgment.make_id([GID], "sim/judge", {"temperature": 0}, "decision_dev@1.0.0",
                            "attribute_swap", {"shown_attributes": {"race": "White"}}, 1) == \
        "j-a7b807f949ac2a3591bf"


def test_human_label_ids_are_fixed_literals():
    assert HumanLabel.make_id(GID, "quality", "r1", "decision_dev") == "h-cb4d12b546172077e27d"


def test_shard_of_is_stable_and_in_range():
    got = [ids.shard_of(f"g-{i}", 4) for i in range(200)]
    assert set(got) == {0, 1, 2, 3}
    assert got == [ids.shard_of(f"g-{i}", 4) for i in range(200)]
    assert [ids.shard_of(f"g-{i}", 4) for i in range(8)] == [0, 2, 2, 1, 1, 1, 2, 0]
