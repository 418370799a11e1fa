"""``judge datasets ...``: import, fetch, list and expand query datasets. Imports are lazy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from judge._cli.common import guard
from judge.config import DesignSpec, QueriesConfig
from judge.errors import UsageError
from judge.importers import IMPORTERS, ColumnMapping, fetch_dataset, get_importer, write_queries
from judge.scenarios import iter_queries

app = typer.Typer(help="Import, download and expand query datasets.", no_args_is_help=True)

MapOpt = Annotated[list[str] | None, typer.Option(
    "--map", help="csv only: FIELD=COLUMN, e.g. text=prompt, group=pair_id, attr.race=race, "
                  "gt.qualified=label, id=row_id, system=sys, context_column=ctx.")]


def _mapping(pairs: list[str], context: str | None, scenario_id: str | None):  # noqa: ANN202

    data: dict = {}
    attrs: dict[str, str] = {}
    truth: dict[str, str] = {}
    for pair in pairs:
        key, sep, col = pair.partition("=")
        if not sep or not col:
            raise UsageError(f"--map {pair!r} is not FIELD=COLUMN")
        if key.startswith("attr."):
            attrs[key[5:]] = col
        elif key.startswith("gt."):
            truth[key[3:]] = col
        else:
            data[key] = None if col.lower() == "none" else col
    data.update({"attributes": attrs or None, "ground_truth": truth or None})
    if context:
        data["context"] = context
    if scenario_id:
        data["scenario_id"] = scenario_id
    try:
        return ColumnMapping.model_validate(data)
    except ValueError as err:
        raise UsageError(f"bad --map: {err.errors()[0]['loc']}: {err.errors()[0]['msg']}") from err


@app.command("import")
def import_cmd(
    name: Annotated[str, typer.Argument(help="discrim_eval, bbq, holistic_bias or csv.")],
    path: Annotated[Path, typer.Argument(help="Upstream file or folder.")],
    out: Annotated[Path | None, typer.Option(help="Output JSONL (default NAME.queries.jsonl).")] = None,
    map_: MapOpt = None,
    context: Annotated[str | None, typer.Option(help="csv only: use case of every row.")] = None,
    scenario_id: Annotated[str | None, typer.Option(help="csv only: scenario id.")] = None,
    axis: Annotated[list[str] | None, typer.Option(
        help="holistic_bias only: keep these HolisticBias axes (repeatable).")] = None,
) -> None:
    """Convert an upstream dataset into Query JSONL for `queries.path` in a run config."""
    def go() -> None:
        imp = get_importer(name)
        options: dict = {}
        if name == "csv":
            options["mapping"] = _mapping(map_ or [], context, scenario_id)
        if name == "holistic_bias" and axis:
            options["axes"] = axis
        target = out or Path(f"{name}.queries.jsonl")
        n, groups = write_queries(imp.read(path, **options), target)
        typer.echo(f"wrote {n:,} queries in {groups:,} counterfactual groups to {target}")
    guard(go)


@app.command()
def fetch(
    name: Annotated[str, typer.Argument(help="discrim_eval, bbq or holistic_bias.")],
    dest: Annotated[Path | None, typer.Option(help="Folder (default .cache/datasets/NAME).")] = None,
    file: Annotated[list[str] | None, typer.Option(help="Only these upstream files.")] = None,
) -> None:
    """Download a dataset's upstream files (needs network; nothing is committed)."""
    def go() -> None:
        imp = get_importer(name)
        for p in fetch_dataset(name, dest, files=file):
            typer.echo(f"downloaded {p}")
        typer.echo(f"license {imp.license}; cite: {imp.citation}")
    guard(go)


@app.command("list")
def list_cmd() -> None:
    """List importable datasets with their citation and license."""
    for imp in IMPORTERS.values():
        typer.echo(f"{imp.name:<14} {imp.license:<13} {imp.citation}")


@app.command()
def expand(
    scenarios: Annotated[list[str], typer.Argument(help="Scenario files or globs.")],
    out: Annotated[Path, typer.Option(help="Output JSONL.")] = Path("scenario.queries.jsonl"),
    design: Annotated[str, typer.Option(help="counterfactual, full_factorial, single_swap, "
                                             "intersectional or sampled.")] = "counterfactual",
    limit: Annotated[int | None, typer.Option(help="First N counterfactual groups.")] = None,
    axis: Annotated[list[str] | None, typer.Option(help="Swap only these axes.")] = None,
    seed: int = 0,
) -> None:
    """Expand scenario files into Query JSONL (the same stream a run would use)."""
    def go() -> None:
        field = "--design"
        try:
            spec = DesignSpec(kind=design)  # type: ignore[arg-type]
            field = ""
            cfg = QueriesConfig(scenarios=scenarios, design=spec, limit=limit, axes=axis)
        except ValidationError as err:
            e = err.errors()[0]
            raise UsageError(f"{e['msg']} (got {e.get('input')!r})",
                             field=field or "--" + str(e["loc"][0])) from err
        n, groups = write_queries(iter_queries(cfg, seed=seed), out)
        typer.echo(f"wrote {n:,} queries in {groups:,} counterfactual groups to {out}")
    guard(go)

