"""CLI functions for standalone calibration and labelling-sheet sampling.

Mount in ``judge/cli.py`` (lazy: this module imports pandas only inside functions)::

    from judge._cli.calibrate import calibrate_standalone_cmd, sample_sheet_cmd

``calibrate_standalone_cmd`` backs ``judge calibrate --judgments FILE --labels FILE --out DIR``;
``sample_sheet_cmd`` backs ``judge calibrate sample --judgments FILE --n N --out DIR``
(a run's ``judge calibrate sample CONFIG --n N`` builds the judged-items frame from the
run and calls :func:`write_sample_sheet`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from judge._cli.common import guard
from judge.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

    from judge.calibration import CalibrationResult, ScaleSpec


def parse_mapping(pairs: list[str] | None, option: str) -> dict[str, str] | None:
    """``["item_id=gen", ...]`` -> ``{"item_id": "gen"}`` (ours=theirs)."""
    out = {}
    for p in pairs or []:
        ours, sep, theirs = p.partition("=")
        if not sep or not ours or not theirs:
            raise UsageError(f"{p!r} is not OURS=THEIRS", field=option,
                             hint="e.g. --map-labels item_id=generation_id")
        out[ours.strip()] = theirs.strip()
    return out or None


def parse_scales(specs: list[str] | None) -> ScaleSpec | dict[str, ScaleSpec] | None:
    """``["likert:1-5"]`` (all criteria) or ``["quality=likert:1-5", "harm=binary"]``."""
    from judge.calibration import ScaleSpec

    if not specs:
        return None
    try:
        if len(specs) == 1 and "=" not in specs[0]:
            return ScaleSpec.parse(specs[0])
        out = {}
        for s in specs:
            crit, sep, spec = s.partition("=")
            if not sep:
                raise ValueError(f"{s!r}: with several scales use CRITERION=SPEC")
            out[crit.strip()] = ScaleSpec.parse(spec)
        return out
    except ValueError as err:
        raise UsageError(str(err), field="--scale") from err


def run_standalone(judgments: Path, labels: Path, out: Path, *, scale: list[str] | None = None,
                   map_judgments: list[str] | None = None, map_labels: list[str] | None = None,
                   weights: Path | None = None, reference: list[str] | None = None,
                   B: int = 1000, seed: int = 0) -> CalibrationResult:
    """Calibrate two standalone files into ``out`` and echo a short summary."""
    from judge.calibration import calibrate_files

    if B < 1:
        raise UsageError(f"B={B} must be positive", field="--B")
    result = calibrate_files(judgments, labels, out, scale=parse_scales(scale),
                             judgments_columns=parse_mapping(map_judgments, "--map-judgments"),
                             labels_columns=parse_mapping(map_labels, "--map-labels"),
                             weights_path=weights, reference=parse_mapping(reference, "--reference"),
                             B=B, seed=seed)
    for issue in result.issues:
        typer.secho(f"warning: {issue.one_line()}", fg="yellow", err=True)
    scales = ", ".join(f"{c}={s.describe()}" for c, s in result.scales.items())
    typer.echo(f"calibrated {result.meta['n_judgments']} judgments against "
               f"{result.meta['n_labels']} labels ({scales}); B={B}, seed={seed}")
    _echo_headline(result)
    typer.echo(f"wrote {Path(out) / 'calibration.json'}")
    return result


def _echo_headline(result: CalibrationResult) -> None:
    a = result.agreement
    for (crit, judge), sub in a[(a.group == "all")].groupby(["criterion", "judge"]):
        k = sub.set_index("metric")
        parts = [f"{m}={k.loc[m, 'value']:.3f}" for m in ("cohen_kappa", "alpha_judge_humans",
                                                           "alpha_humans") if m in k.index]
        typer.echo(f"  {crit} / {judge}: " + ", ".join(parts))
    c = result.corrected
    gaps = c[(c.quantity == "gap") & c.estimator.isin(["judge_only", "ppi"])]
    for r in gaps.itertuples():
        typer.echo(f"  gap {r.attribute}={r.group} vs {r.reference} ({r.judge}, {r.criterion}) "
                   f"{r.estimator}: {r.value:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]")


def write_sample_sheet(items: pd.DataFrame, out_dir: str | Path, n: int, *, seed: int = 0,
                       strata: list[str] | None = None, rubric: str | None = None,
                       criterion: str | None = None, min_per_stratum: int = 2,
                       raters: int = 2, overlap: float = 0.2) -> dict[str, Path]:
    """Sample ``n`` judged items for human labelling; write blind, shuffled sheets.

    ``items``: one row per item with ``item_id``, ``score`` (the judge score, used only to
    stratify), the ``group.<attr>`` columns and ``query``/``response`` (or ``text``).
    Strata default to every group column x judge score. Each of ``raters`` gets an
    independently shuffled copy under ``raters/`` with no judge score, stratum, weight or
    group; an ``overlap`` share of items goes to two raters. ``key.jsonl`` maps row ids to
    items, strata and inclusion probabilities (docs/LABELLING.md). Returns the paths
    (``csv``/``jsonl``: the first rater's copy).
    """
    from judge.labelling import default_raters, inferred_spec, items_from_frame, write_study
    from judge.stats.sampling import stratified_sample

    missing = {"item_id", "score"} - set(items.columns)
    if missing:
        raise UsageError(f"judged items lack column(s) {sorted(missing)}")
    attrs = dict(items.attrs)  # labelling_items puts the rubric's criteria here
    specs = attrs.get("criteria") or [inferred_spec(criterion or "score",
                                                    items["score"].tolist())]
    items = items.drop_duplicates("item_id")
    strata = strata or [*sorted(c for c in items.columns if c.startswith("group.")), "score"]
    # A group an item does not belong to (single_swap designs) is its own stratum level.
    items = items.assign(**{c: items[c].astype(object).where(items[c].notna(), "")
                            for c in strata if c.startswith("group.")})
    try:
        s = stratified_sample(items, n, strata, seed=seed, min_per_stratum=min_per_stratum)
    except ValueError as err:
        raise UsageError(str(err), field="--n") from err
    picked = items_from_frame(s[s["sampled"]], specs, rubric_id=rubric or "",
                              rubric_version=attrs.get("rubric_version"),
                              instructions=attrs.get("instructions", ""))
    names = default_raters(raters)
    try:
        paths = write_study(picked, out_dir, raters=names, seed=seed, overlap=overlap,
                            meta={"stratified_on": strata, "n_population": int(len(items)),
                                  "criterion": criterion})
    except ValueError as err:
        raise UsageError(str(err), field="--overlap") from err
    return {"csv": paths[f"csv:{names[0]}"], "jsonl": paths[f"jsonl:{names[0]}"], **paths}


def calibrate_standalone_cmd(
        judgments: Path = typer.Option(..., "--judgments", help="Judgments JSONL or CSV."),
        labels: Path = typer.Option(..., "--labels",
                                    help="Human labels JSONL, CSV or Label Studio .json."),
        out: Path = typer.Option(..., "--out", help="Output directory."),
        scale: list[str] = typer.Option(None, "--scale", help="likert:1-5 | binary | "
                                        "categorical:a,b | CRITERION=SPEC (repeatable)."),
        map_judgments: list[str] = typer.Option(None, "--map-judgments",
                                                help="OURS=THEIRS column (repeatable)."),
        map_labels: list[str] = typer.Option(None, "--map-labels",
                                             help="OURS=THEIRS column (repeatable)."),
        weights: Path = typer.Option(None, "--weights",
                                     help="Sheet or file with item_id, inclusion_prob."),
        reference: list[str] = typer.Option(None, "--reference",
                                            help="ATTRIBUTE=LEVEL reference group."),
        B: int = typer.Option(1000, "--B", help="Bootstrap replicates."),
        seed: int = typer.Option(0, "--seed")) -> None:
    """Calibrate judges run elsewhere: agreement, bias, corrected group estimates."""
    guard(lambda: run_standalone(judgments, labels, out, scale=scale,
                                  map_judgments=map_judgments, map_labels=map_labels,
                                  weights=weights, reference=reference, B=B, seed=seed))


def sample_sheet_cmd(
        judgments: Path = typer.Option(..., "--judgments", help="Judgments JSONL or CSV."),
        n: int = typer.Option(..., "--n", help="Items to label."),
        out: Path = typer.Option(..., "--out", help="Output directory."),
        criterion: str = typer.Option(None, "--criterion", help="Criterion to stratify on."),
        judge: str = typer.Option(None, "--judge", help="Judge whose score stratifies."),
        seed: int = typer.Option(0, "--seed")) -> None:
    """Write a stratified labelling sheet (group x judge score) with inclusion probabilities."""
    def go() -> None:
        from judge.calibration import read_judgments

        j = read_judgments(judgments)
        crit = criterion or sorted(j["criterion"].unique())[0]
        name = judge or sorted(j["judge"].unique())[0]
        items = j[(j["criterion"] == crit) & (j["judge"] == name)]
        paths = write_sample_sheet(items, out, n, seed=seed, criterion=crit)
        typer.echo(f"sampled {n} of {items['item_id'].nunique()} items ({crit}, {name}): "
                   f"{paths['csv']}, {paths['jsonl']}")
    guard(go)
