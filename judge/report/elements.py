"""HTML building blocks: escaped text, number formats, tables, inline figures, page shell.

Everything is inline: figures are ``<img>`` elements with ``data:`` URIs (SVG by default,
PNG optional), the stylesheet is a ``<style>`` block, and the only script is the
drill-down's, allowed by its sha256 in the Content-Security-Policy. The output opens
from disk with no network.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.text import Text

from judge.report.rows import DEFAULT_MIN_CELL, small_cell

RC = {"svg.hashsalt": "judge-report", "svg.fonttype": "none", "font.family": "DejaVu Sans",
      "text.parse_math": False}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:0 auto;max-width:1100px;padding:1.5rem 2rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.25rem;margin-top:2.2rem;
 border-bottom:1px solid #ddd;padding-bottom:.2rem} h3{font-size:1.05rem;margin-top:1.4rem}
nav ol{columns:2;font-size:.9rem} .muted{color:#666;font-size:.9rem}
.tw{overflow-x:auto} table{border-collapse:collapse;font-size:.82rem;margin:.6rem 0;width:100%}
th,td{border-bottom:1px solid #e6e6e6;padding:.22rem .45rem;text-align:left;vertical-align:top}
th{background:#f4f4f4;position:sticky;top:0} td.num{text-align:right;
 font-variant-numeric:tabular-nums;white-space:nowrap}
tr.flag td{background:#fff8e6} tr.small td{background:#fdeeee}
.warn{color:#8a5a00;min-width:12rem} .tag{display:inline-block;font-size:.72rem;padding:0 .35rem;
 border-radius:.6rem;background:#f3d6d6;color:#7a1f1f;margin-left:.3rem}
figure{margin:1rem 0} figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:.85rem;color:#555} .note{background:#f6f8fa;border-left:3px solid #bbb;
 padding:.4rem .8rem;font-size:.9rem} dl.kv{display:grid;grid-template-columns:max-content 1fr;
 gap:.15rem 1rem;font-size:.9rem} dl.kv dt{color:#555} dl.kv dd{margin:0}
code{font-size:.85em;background:#f4f4f4;padding:0 .2rem;border-radius:3px}
"""


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA


def fmt(x: Any, nd: int = 3) -> str:
    """A number for a table: ``n/a`` when missing, integers as such, floats to ``nd``."""
    if missing(x):
        return "n/a"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 1000):
        return f"{int(x):,}"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def fmt_p(x: Any) -> str:
    if missing(x):
        return ""
    return "<0.001" if float(x) < 0.001 else f"{float(x):.3f}"


def fmt_ci(r: Mapping[str, Any], nd: int = 3) -> str:
    v, lo, hi = r.get("value"), r.get("ci_low"), r.get("ci_high")
    if missing(lo) or missing(hi):
        return f"{fmt(v, nd)} [no CI]"
    return f"{fmt(v, nd)} [{fmt(lo, nd)}, {fmt(hi, nd)}]"


def plain_text(fig: Figure) -> None:
    """Turn mathtext off for every text of ``fig``: labels are data (attribute levels, model
    names), and a ``$`` in them must be drawn, not parsed (``$x^$`` would fail the figure)."""

    for t in fig.findobj(Text):
        t.set_parse_math(False)


def figure_html(fig: Figure | None, caption: str, fmt_: str = "svg") -> str:
    """A figure as an inline ``<img>`` (``data:`` URI); empty string for ``None``."""
    if fig is None:
        return ""
    buf = io.BytesIO()
    plain_text(fig)
    with matplotlib.rc_context(RC):
        if fmt_ == "png":
            fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
            mime = "image/png"
        else:
            fig.savefig(buf, format="svg", metadata={"Date": None})
            mime = "image/svg+xml"
    w, h = (int(round(v * 96)) for v in fig.get_size_inches())
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<figure><img src="data:{mime};base64,{data}" width="{w}" height="{h}" '
            f'alt="{esc(caption)}"><figcaption>{esc(caption)}</figcaption></figure>')


Column = tuple[str, str]  # (header, key); key "ci" renders value [ci_low, ci_high]

NUMERIC_KEYS = {"value", "ci", "n", "n_clusters", "p_value", "p_adj", "planted", "rate_level",
                "rate_reference", "ci_low", "ci_high", "bias", "loa_low", "loa_high", "x", "y",
                "n_labelled", "n_unlabelled", "lam", "value_a", "value_b", "statistic",
                "df_num", "df_denom", "estimate", "se"}


def _cell(r: Mapping[str, Any], key: str) -> str:
    if key == "ci":
        return fmt_ci(r)
    if key in ("p_value", "p_adj"):
        return fmt_p(r.get(key))
    if key == "covered":
        p, lo, hi = r.get("planted"), r.get("ci_low"), r.get("ci_high")
        if missing(p) or missing(lo) or missing(hi):
            return ""
        return "yes" if lo <= p <= hi else "no"
    v = r.get(key)
    if key == "planted" and missing(v):
        return ""
    if key in ("n", "n_clusters", "n_labelled", "n_unlabelled") and not missing(v):
        return f"{int(v):,}"
    return fmt(v) if key in NUMERIC_KEYS else ("" if missing(v) else str(v))


def table_html(rows: pd.DataFrame | Sequence[Mapping[str, Any]], columns: Sequence[Column],
               min_cell: int = DEFAULT_MIN_CELL, collapse_over: int = 60,
               caption: str = "", numeric: Sequence[str] = ()) -> str:
    """An HTML table; rows with a warning are shaded and show it, small cells are tagged.

    Tables longer than ``collapse_over`` rows sit in a closed ``<details>`` element;
    ``numeric`` names extra keys shown right-aligned without wrapping.
    """
    right = NUMERIC_KEYS | set(numeric)
    recs = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
    if not recs:
        return ""
    flags = [(small_cell(r, min_cell), "" if missing(r.get("warning")) else str(r["warning"]))
             for r in recs]
    with_warn = any(s or w for s, w in flags)
    head = "".join(f"<th>{esc(h)}</th>" for h, _ in columns)
    head += "<th>warning</th>" if with_warn else ""
    body = []
    for r, (small, warn) in zip(recs, flags):
        cls = "small" if small else ("flag" if warn else "")
        tds = "".join(
            f'<td class="num">{esc(_cell(r, k))}</td>' if k in right
            else f"<td>{esc(_cell(r, k))}</td>" for _, k in columns)
        said = "small cell" in warn.lower() or "min_cell" in warn
        tag = f'<span class="tag">small cell (n &lt; {min_cell})</span>' \
            if small and not said else ""
        wcell = f'<td class="warn">{"⚠ " + esc(warn) if warn else ""}{tag}</td>' \
            if with_warn else ""
        body.append(f'<tr class="{cls}">{tds}{wcell}</tr>' if cls else f"<tr>{tds}{wcell}</tr>")
    cap = f"<caption class=\"muted\">{esc(caption)}</caption>" if caption else ""
    t = (f'<div class="tw"><table>{cap}<thead><tr>{head}</tr></thead>'
         f"<tbody>{''.join(body)}</tbody></table></div>")
    if len(recs) > collapse_over:
        return f"<details><summary>Show all {len(recs)} rows</summary>{t}</details>"
    return t


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def kv_html(items: Sequence[tuple[str, Any]]) -> str:
    """A definition list of (label, value) pairs; values are escaped."""
    return "<dl class=\"kv\">" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>"
                                         for k, v in items) + "</dl>"


def page(title: str, sections: Sequence[tuple[str, str, str]], intro: str = "",
         script: str = "", css: str = "") -> str:
    """The whole document: ``sections`` are (anchor id, heading, inner HTML).

    ``script`` (trusted, constant text) is inlined once at the end of the body and allowed
    by its sha256 in the Content-Security-Policy; every other script stays blocked.
    """

    nav = "".join(f'<li><a href="#{esc(a)}">{esc(h)}</a></li>' for a, h, _ in sections)
    body = "".join(f'<section id="{esc(a)}"><h2>{esc(h)}</h2>{inner}</section>'
                   for a, h, inner in sections)
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    tail = ""
    if script:
        digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
        csp += f"; script-src 'sha256-{digest}'"
        tail = f"<script>{script}</script>"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">"
            f"<title>{esc(title)}</title><style>{CSS}{css}</style></head><body>"
            f"<h1>{esc(title)}</h1>{intro}<nav><ol>{nav}</ol></nav>{body}{tail}"
            "</body></html>\n")


def is_simulated(model: Any) -> bool:
    return str(model).startswith("sim/")


def cost_text(manifest: Mapping[str, Any]) -> str:
    """The run's cost, honestly: unknown prices are never $0, simulated prices say so.

    >>> cost_text({"cost": {"total_usd": 0.0, "calls_with_unknown_cost": 3}})
    'unknown: 3 calls have no known price'
    >>> cost_text({"cost": {"total_usd": 0.0123}, "generators": ["sim/generator"]})
    '$0.0123 (simulated prices of sim/ models, not a real charge)'
    """
    cost = manifest.get("cost") or {}
    total, unknown = cost.get("total_usd"), int(cost.get("calls_with_unknown_cost") or 0)
    models = list(manifest.get("generators") or []) + list(manifest.get("judges") or [])
    if missing(total) or (unknown and not total):
        s = "unknown" + (f": {unknown:,} calls have no known price" if unknown else "")
    else:
        s = f"${float(total):.4f}"
        if unknown:
            s = f"at least {s}; {unknown:,} calls have no known price and are not included"
    if models and any(is_simulated(m) for m in models) and s != "unknown":
        which = ("simulated prices of sim/ models, not a real charge"
                 if all(is_simulated(m) for m in models)
                 else "includes simulated prices of sim/ models")
        s += f" ({which})"
    return s
