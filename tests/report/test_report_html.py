"""report.html: every section present, figures inline and valid, absent data noted."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from judge.report import build_html, write_html_report
from judge.report.html import min_cell_of

SECTION_IDS = ["summary", "headline", "counterfactual", "groups", "intersections",
               "calibration", "probes", "exposure", "failures", "caveats"]


class _Collect(HTMLParser):
    """Tags, ids and attributes of a document (also checks it parses)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _parse(doc: str) -> list[tuple[str, dict]]:
    p = _Collect()
    p.feed(doc)
    p.close()
    return p.tags


@pytest.fixture
def doc(fixture_report: Path) -> str:
    return fixture_report.read_text(encoding="utf-8")


def test_all_sections_in_order(doc):
    ids = [a["id"] for t, a in _parse(doc) if t == "section"]
    assert ids == SECTION_IDS


def test_figures_are_inline_valid_svg_and_nothing_is_fetched(doc):
    tags = _parse(doc)
    imgs = [a for t, a in tags if t == "img"]
    assert len(imgs) >= 15
    for a in imgs:
        src = a["src"]
        assert src.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(src.split(",", 1)[1])
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg")
        assert int(a["width"]) > 0 and int(a["height"]) > 0 and a["alt"]
    for t, a in tags:
        for key in ("src", "href"):
            v = a.get(key, "")
            assert not re.match(r"^(https?:)?//", v), f"<{t} {key}={v}> would use the network"
    assert not [t for t, _ in tags if t in ("script", "link", "iframe", "object")]
    assert "default-src 'none'" in doc  # CSP: the page cannot fetch anything


def test_every_figure_kind_present(doc):
    for caption in ("demographic_parity_difference: level vs reference",
                    "Share of counterfactual pairs", "race×gender", "Mean judge-minus-human score",
                    "mean human score per judge score", "limits of agreement",
                    "judge-only (raw) vs corrected", "verdict when only the probed property",
                    "Position-weighted exposure"):
        assert caption in doc, caption


def test_rule_flags_listed_not_plotted(doc):
    head = doc[doc.index('id="headline"'):doc.index('id="counterfactual"')]
    assert "⚑ raised: four_fifths_flag on race (dp_ratio &lt; 0.8) [sim/generator]" in head
    assert "four_fifths_flag: level vs reference" not in head


def test_tables_flag_small_cells_and_warnings(doc):
    assert doc.count('<tr class="small">') >= 5
    assert "⚠ small cell: n=12 &lt; min_cell=30" in doc
    assert "small cell (n &lt; 30)" in doc


def test_summary_shows_models_rubric_hash_counts_tokens_cost(doc):
    for s in ("sim/generator", "sim/judge", "decision_dev", "1.0.0",
              "61ec1514472c14bb98179a39f8d81b79bc454d0e", "parse_failure 2", "29,727",
              "$0.0000", "64545bd52cdb (dirty)"):
        assert s in doc, s


def test_caveats_name_the_paper_and_what_is_not_covered(doc):
    cav = doc[doc.index('id="caveats"'):]
    assert "The Impossibility of Fair LLMs" in cav
    assert "not a fairness certificate" in cav
    # the whole line: a rule flag's reference ("dp_ratio < 0.8") is not a level
    assert "<code>race</code>: Asian, Black, White</li>" in cav
    assert "Not covered at all: age, religion, disability" in cav
    assert "race×gender" in cav
    assert "Simulated models" in cav


def test_absent_sections_render_a_note_not_an_error(manifest):
    doc = build_html(manifest, {"schema_version": 1, "metrics": []}, None)
    ids = [a["id"] for t, a in _parse(doc) if t == "section"]
    assert ids == SECTION_IDS
    assert "No calibration.json" in doc and "No judge probes" in doc
    assert "No producer-exposure metrics" in doc and "No intersectional cells" in doc
    assert "No human labels: the judge's own bias is unmeasured" in doc
    assert "<img" not in doc


def test_partial_calibration_notes_missing_subsections(manifest, metrics, calibration):
    cal = {k: v for k, v in calibration.items() if k in ("judge_bias", "n_labels", "n_items")}
    rows = [r for r in metrics["metrics"] if r.get("estimate_kind")]
    doc = build_html(manifest, {"metrics": rows}, cal)
    assert "No agreement section" in doc and "No calibration-curve section" in doc
    assert "No Bland–Altman rows" in doc
    assert "Mean judge-minus-human score" in doc
    # raw vs corrected falls back to metric rows with estimate_kind
    assert "raw" in doc[doc.index("Raw vs corrected"):doc.index('id="probes"')]


def test_text_is_escaped(manifest):
    m = dict(manifest, name="<script>alert(1)</script>")
    doc = build_html(m, {"metrics": []}, None)
    assert "<script>" not in doc and "&lt;script&gt;" in doc


def test_write_html_report_is_deterministic(tmp_path: Path, manifest, metrics, calibration,
                                           fixture_report: Path):
    p = write_html_report(tmp_path, metrics, calibration, manifest)
    assert p == tmp_path / "report.html"
    assert p.read_bytes() == fixture_report.read_bytes()


def test_min_cell_from_config(manifest):
    assert min_cell_of(manifest) == 30
    assert min_cell_of({"config": {"report": {"min_cell": 5}}}) == 5
    assert min_cell_of({}) == 30


def test_calibration_stage_shape_renders_every_subsection(manifest, calibration_stage):
    doc = build_html(manifest, {"metrics": []}, calibration_stage)
    cal = doc[doc.index('id="calibration"'):doc.index('id="probes"')]
    assert "240 human labels on 120 items" in cal
    assert "<th>exact_agreement</th>" in cal and "<th>cohen_kappa</th>" in cal
    assert "ba_bias" not in cal.split("Bland")[0]  # B–A rows are drawn, not tabulated
    assert "-0.450 [-0.300, 0.100]" in cal  # mean_bias rows, group aliased to level
    assert "Differential judge bias" in cal and "-0.520 [-0.830, -0.200]" in cal
    assert "0.008" in cal  # Holm-adjusted p
    assert "Joint tests" in cal and "12.160" in cal
    assert "Judge error rates" in cal and "tpr" in cal
    assert "openai/gpt-4o and generator openai/gpt-4o-mini" in cal.replace(
        "</li>", "").replace("judge ", "")
    assert "missing_score: 3" in cal
    assert "No corrected estimates" in cal
    # figures: bias, differential bias, calibration map, Bland–Altman
    assert cal.count("<img ") == 4
    probes = doc[doc.index('id="probes"'):doc.index('id="exposure"')]
    assert probes.count("<img ") == 2  # one forest per probe metric
    assert "consistency_rate" in probes and "1 = no effect" in probes


def test_a_failing_section_is_noted_and_warned(manifest, monkeypatch):
    from judge.report import sections

    def boom(df, min_cell):
        raise ValueError("bad rows")

    monkeypatch.setattr(sections, "failures", boom)
    with pytest.warns(RuntimeWarning, match="Failures"):
        doc = build_html(manifest, {"metrics": []}, None)
    assert "This section could not be rendered: ValueError: bad rows" in doc
    assert 'id="caveats"' in doc


def test_coverage_reads_the_bias_rows_the_calibrate_stage_writes(manifest, calibration_stage):
    """calibration.json v2 has ``bias`` rows with ``group``; v1 had ``judge_bias`` with
    ``level``. Either way a calibrated attribute is listed as measured."""
    doc = build_html(manifest, {"metrics": []}, calibration_stage)
    cav = doc[doc.index('id="caveats"'):]
    assert "<code>race</code>: Black, White</li>" in cav
    assert "Not covered at all: gender, age," in cav
