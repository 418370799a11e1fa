import math

import numpy as np
import pandas as pd
import pytest

from judge.stats.reference import (
    DEFAULT_REFERENCE,
    SOURCE_CONFIGURED,
    SOURCE_CONVENTIONAL,
    SOURCE_MOST_FREQUENT,
    choose_reference,
    drop_missing_rows,
    is_missing,
    missing_counts,
    missing_note,
    reference_levels,
    references,
)


def test_configured_level_wins_when_present():
    r = choose_reference(["Black", "White", "Asian"], "race", {"race": "Asian"})
    assert (r.level, r.source, r.note) == ("Asian", SOURCE_CONFIGURED, None)


def test_configured_level_absent_falls_back_to_conventional_with_a_note():
    r = choose_reference(["Black", "White"], "race", {"race": "Martian"})
    assert (r.level, r.source) == ("White", SOURCE_CONVENTIONAL)
    assert r.note == "configured reference 'Martian' does not occur"


@pytest.mark.parametrize("attr,levels,want", [
    ("race", ["Black", "White", "Asian"], "White"),
    ("gender", ["female", "male", "nonbinary"], "male"),
    ("dialect", ["AAE", "SAE"], "SAE"),
    ("religion", ["Muslim", "Christian", "Hindu"], "Christian"),
    ("disability", ["wheelchair_user", "none"], "none"),
])
def test_conventional_defaults(attr, levels, want):
    assert choose_reference(levels, attr).level == want == DEFAULT_REFERENCE[attr]


def test_age_has_no_conventional_level_and_never_a_phantom_30():
    # the issue: calibration compared age with "30", a level no query had
    r = choose_reference(["18-29", "50-64", "50-64", "30-49"], "age", {})
    assert (r.level, r.source) == ("50-64", SOURCE_MOST_FREQUENT)
    assert "age" not in DEFAULT_REFERENCE
    assert choose_reference(["30", "18-29"], "age", {"age": "30"}).level == "30"


def test_most_frequent_ties_broken_by_sort_order():
    assert choose_reference(["b", "a", "b", "a"], "x").level == "a"


def test_missing_values_are_never_the_reference():
    vals = [None, None, None, "(missing)", "", np.nan, "Hindu", "Muslim", "Muslim"]
    r = choose_reference(vals, "religion")
    assert r.level == "Muslim"  # most frequent present level, not the 4 missing ones
    assert choose_reference([None, "(missing)", math.nan], "race") is None
    assert choose_reference(["(missing)", "Black"], "race", {"race": "(missing)"}).level == "Black"


def test_is_missing_keeps_the_real_level_none():
    got = is_missing(pd.Series(["none", None, "(missing)", " ", "x", np.nan]))
    assert got.tolist() == [False, True, True, True, False, True]


def test_reference_levels_over_attr_and_group_prefixes():
    df = pd.DataFrame({"attr.race": ["Black", "White", None],
                       "attr.age": ["18-29", "65+", "65+"],
                       "attr.gender": [None, None, None], "other": [1, 2, 3]})
    assert reference_levels(df, {"age": "30"}) == {"race": "White", "age": "65+"}
    g = df.rename(columns=lambda c: c.replace("attr.", "group."))
    assert reference_levels(g, {}, prefix="group.") == {"race": "White", "age": "65+"}
    refs = references(df, {"age": "30"})
    assert refs["age"].source == SOURCE_MOST_FREQUENT and refs["race"].source == SOURCE_CONVENTIONAL


def test_missing_counts_and_note():
    df = pd.DataFrame({"attr.race": ["Black", None, "White"], "attr.gender": ["male"] * 3})
    assert missing_counts(df) == {"race": 1}
    assert missing_note({"race": 1}) == ("Rows lacking an attribute are left out of that "
                                         "attribute's comparisons (race: 1 rows).")
    assert missing_note({}) is None


def test_drop_missing_rows():
    rows = [{"group": "(missing)", "reference": "male"}, {"group": "female", "reference": "male"},
            {"group": "all", "reference": None}, {"level": "x", "reference": "(missing)"}]
    kept, n = drop_missing_rows(rows)
    assert n == 2 and kept == rows[1:3]
