"""The report researchers read: report.html (figures, tables, caveats) and run comparisons.

    write_html_report(run_dir, metrics, calibration, manifest) -> Path
    build_html(manifest, metrics, calibration) -> str
    compare_runs(run_a, run_b, ...) -> pandas.DataFrame   (differences B - A with CIs)
    write_comparison(run_a, run_b, out_dir, ...) -> dict of written paths
"""

from judge.report.html import build_html, write_html_report

__all__ = ["build_html", "write_html_report"]
