"""The report researchers read: report.html (figures, tables, caveats) and run comparisons.

    write_html_report(run_dir, metrics, calibration, manifest) -> Path   (report.html)
    build_html(manifest, metrics, calibration) -> str
    compare_runs(run_a, run_b, B=1000, seed=0, alpha=0.05) -> DataFrame  (B − A with CIs)
    write_comparison(run_a, run_b, out_dir=None, B=1000, seed=0) -> {"json"|"csv"|"md"|"html": Path}

Figures are built by :mod:`judge.report.plots` from the fixed metric-table schema.
"""

from judge.report.compare import compare_judgments, compare_runs, compare_tables
from judge.report.compare_html import build_compare_html, write_comparison
from judge.report.html import build_html, write_html_report

__all__ = ["build_compare_html", "build_html", "compare_judgments", "compare_runs",
           "compare_tables", "write_comparison", "write_html_report"]
