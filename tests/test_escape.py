"""judge.escape: the one escaping layer (doctests plus the cases each writer relies on)."""

from __future__ import annotations

import doctest

import pandas as pd
import pytest

import judge.escape as esc


def test_doctests():
    assert doctest.testmod(esc).failed == 0


@pytest.mark.parametrize("first", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_neutralised(first):
    assert esc.csv_cell(first + "1+1") == "'" + first + "1+1"


def test_csv_frame_leaves_numbers_and_neutralises_headers():
    df = esc.csv_frame(pd.DataFrame({"=x": ["=1", "ok"], "v": [-1.0, 2.0],
                                     "c": pd.Categorical(["@a", "b"])}))
    assert list(df.columns) == ["'=x", "v", "c"]
    assert df["'=x"].tolist() == ["'=1", "ok"] and df["v"].tolist() == [-1.0, 2.0]
    assert df["c"].tolist() == ["'@a", "b"]


@pytest.mark.parametrize("text", ["<b>x</b>", "a|b", "`code`", "[x](y)", "line\nbreak",
                                  "&amp;", "<!-- c -->"])
def test_md_makes_one_inert_cell(text):
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(
        f"| h |\n|---|\n| {esc.md(text)} |\n")
    assert html.count("<td") == 1 and "<b>" not in html and "<code>" not in html
    assert "<a " not in html and "<!--" not in html


def test_fence_is_case_and_space_insensitive():
    assert esc.fence("x</RESPONSE >") == "x&lt;/RESPONSE >"
    assert esc.fence("< /query>") == "&lt; /query>"
