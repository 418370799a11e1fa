"""``judge calibrate``: a run's calibration stage, standalone calibration of judgments made
elsewhere, and stratified labelling sheets.

::

    judge calibrate CONFIG                                  the calibrate stage of a run
    judge calibrate --judgments F --labels F --out DIR      judges run elsewhere
    judge calibrate sample CONFIG --n N                     a sheet from a run's judgments
    judge calibrate sample --judgments F --n N --out DIR    a sheet from a judgments file
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from judge._cli.common import SetOpt, guard, load_run_config
from judge._cli.run import run_stages_command
from judge.calibration import CalibrationResult, ScaleSpec, calibrate_files, read_judgments
from judge.errors import UsageError
from judge.labelling import default_raters, inferred_spec, items_from_frame, write_study
from judge.stages.calibrate import labelling_items
from judge.stats.sampling import stratified_sample


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
    if B < 1:
        raise UsageError(f"B={B} must be positive", field="--B")
    if Path(out).exists() and not Path(out).is_dir():
        raise UsageError(f"--out {out} is an existing file", field="--out",
                         hint="give a directory for calibration.json and its CSV tables")
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


USAGE = ("judge calibrate CONFIG | judge calibrate --judgments F --labels F --out DIR "
         "| judge calibrate sample (CONFIG | --judgments F) --n N")


def calibrate(
        args: list[str] = typer.Argument(None, metavar="[CONFIG | sample [CONFIG]]",
                                         help="A run config; or 'sample' for a labelling "
                                              "sheet."),
        judgments: Path = typer.Option(None, "--judgments",
                                       help="Judgments JSONL or CSV made anywhere "
                                            "(standalone, or sample from a file)."),
        labels: Path = typer.Option(None, "--labels",
                                    help="Standalone: human labels JSONL, CSV or Label Studio "
                                         ".json."),
        out: Path = typer.Option(None, "--out", help="Output directory (standalone; sample "
                                                     "default: <run>/labelling)."),
        scale: list[str] = typer.Option(None, "--scale", help="Standalone: likert:1-5 | binary "
                                        "| categorical:a,b | CRITERION=SPEC (repeatable)."),
        map_judgments: list[str] = typer.Option(None, "--map-judgments", metavar="OURS=THEIRS",
                                                help="Standalone: judgments column names "
                                                     "(repeatable)."),
        map_labels: list[str] = typer.Option(None, "--map-labels", metavar="OURS=THEIRS",
                                             help="Standalone: labels column names "
                                                  "(repeatable)."),
        weights: Path = typer.Option(None, "--weights",
                                     help="Standalone: the sample's key.csv (or any file "
                                          "with item_id, inclusion_prob)."),
        reference: list[str] = typer.Option(None, "--reference", metavar="ATTRIBUTE=LEVEL",
                                            help="Standalone: reference group (repeatable)."),
        B: int = typer.Option(None, "--B", help="Standalone: bootstrap replicates [1000]."),
        n: int = typer.Option(None, "--n", help="sample: items to label [200]."),
        criterion: str = typer.Option(None, "--criterion",
                                      help="sample: criterion (RUBRIC.CRITERION for a run) to "
                                           "stratify on."),
        judge: str = typer.Option(None, "--judge",
                                  help="sample --judgments: judge whose score stratifies."),
        seed: int = typer.Option(0, "--seed", help="Bootstrap / sampling seed."),
        raters: int = typer.Option(None, "--raters", min=1,
                                   help="sample: raters, each with a shuffled copy [2]."),
        overlap: float = typer.Option(None, "--overlap", min=0.0, max=1.0,
                                      help="sample: share of items given to two raters, for "
                                           "reliability [0.2]."),
        force: list[str] = typer.Option(None, "--force", help="CONFIG: redo the stage."),
        sets: list[str] = SetOpt) -> None:
    """Judge vs human labels: agreement, bias per group, PPI++-corrected estimates.

    \b
    judge calibrate CONFIG                                  calibrate a run
    judge calibrate --judgments F --labels F --out DIR      judges run elsewhere
    judge calibrate sample CONFIG --n N                     labelling sheet from a run
    judge calibrate sample --judgments F --n N --out DIR    labelling sheet from a file
    """
    rest = list(args or [])
    standalone = {"--labels": labels, "--scale": scale, "--map-judgments": map_judgments,
                  "--map-labels": map_labels, "--weights": weights, "--reference": reference,
                  "--B": B}
    run_only = {"--force": force, "--set": sets}

    def refuse(options: dict[str, object], mode: str) -> None:
        given = [k for k, v in options.items() if v not in (None, [], ())]
        if given:
            raise UsageError(f"{given[0]} does not apply to {mode}", hint=USAGE)

    size = 200 if n is None else n
    design = {"raters": 2 if raters is None else raters,
              "overlap": 0.2 if overlap is None else overlap}

    def go() -> None:
        if rest[:1] == ["sample"]:
            refuse({**standalone, "--force": force}, "judge calibrate sample")
            if len(rest) > 2 or (len(rest) == 2) == bool(judgments):
                raise UsageError("sample takes a CONFIG or --judgments FILE (one of them)",
                                 hint=USAGE)
            if judgments:
                if out is None:
                    raise UsageError("sample --judgments needs --out DIR", hint=USAGE)
                refuse({"--set": sets}, "sample --judgments")
                sample_from_file(judgments, size, out, criterion, judge, seed, **design)
            else:
                refuse({"--judge": judge}, "a run (use --criterion RUBRIC.CRITERION)")
                sample_from_run(rest[1], size, out, criterion, seed, sets, **design)
            return
        refuse({"--n": n, "--criterion": criterion, "--judge": judge, "--raters": raters,
                "--overlap": overlap},
               "calibration (only to 'judge calibrate sample')")
        if judgments or labels:
            refuse(run_only, "standalone calibration")
            if not (judgments and labels and out) or rest:
                raise UsageError("standalone calibration needs --judgments, --labels and --out "
                                 "(and no CONFIG)", hint=USAGE)
            run_standalone(judgments, labels, out, scale=scale, map_judgments=map_judgments,
                           map_labels=map_labels, weights=weights, reference=reference,
                           B=1000 if B is None else B, seed=seed)
            return
        refuse({**standalone, "--out": out}, "a run (its config sets them)")
        if len(rest) != 1:
            raise UsageError("give one CONFIG", hint=USAGE)
        run_stages_command(rest[0], ["calibrate"], force, False, sets=sets)
    guard(go)


def sample_from_run(config: str, n: int, out: Path | None, criterion: str | None,
                    seed: int, sets: list[str] | None = None, *, raters: int = 2,
                    overlap: float = 0.2) -> None:
    """``judge calibrate sample CONFIG``: a sheet of the run's judged items."""
    cfg = load_run_config(config, sets)
    items, rubric, crit = labelling_items(cfg, criterion)
    out = Path(out or cfg.run_dir / "labelling")
    write_sample_sheet(items, out, n, seed=seed, rubric=rubric, criterion=crit,
                       raters=raters, overlap=overlap)
    typer.echo(f"sampled {min(n, len(items))} of {len(items)} items ({rubric}.{crit}): "
               f"{_where(out)}")


def sample_from_file(judgments: Path, n: int, out: Path, criterion: str | None,
                     judge: str | None, seed: int, *, raters: int = 2,
                     overlap: float = 0.2) -> None:
    """``judge calibrate sample --judgments FILE``: a sheet of one judge's scores of one
    criterion (default: the first of each, sorted)."""
    j = read_judgments(judgments)
    crit = criterion or sorted(j["criterion"].unique())[0]
    name = judge or sorted(j["judge"].unique())[0]
    items = j[(j["criterion"] == crit) & (j["judge"] == name)]
    if items.empty:
        raise UsageError(f"no judgments of criterion {crit!r} by judge {name!r}",
                         path=judgments, hint="check --criterion and --judge")
    write_sample_sheet(items, out, n, seed=seed, criterion=crit, raters=raters,
                       overlap=overlap)
    typer.echo(f"sampled {min(n, items['item_id'].nunique())} of {items['item_id'].nunique()} "
               f"items ({crit}, {name}): {_where(Path(out))}")


def _where(out: Path) -> str:
    return (f"blind sheets for raters in {out / 'raters'}/, the key (ids, weights: "
            f"--weights {out / 'key.csv'}) in {out}/key.csv (docs/LABELLING.md)")
