"""``judge serve-local``: a real model on this machine, no key, no network (docs/LOCAL_MODEL.md)."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from judge._cli.calibrate import write_sample_sheet
from judge._cli.common import guard
from judge._cli.run import run_stages_command
from judge.config import load_config
from judge.labelling import labelling_hint
from judge.llm.local_server import start_local_server
from judge.rubrics import load_rubrics
from judge.stages.calibrate import labelling_items

Opt = typer.Option


def serve_local(
    model: Annotated[Path | None, Opt(help="GGUF file (default: the bundled SmolLM2-135M).")]
    = None,
    port: Annotated[int, Opt(help="TCP port on 127.0.0.1; 0 picks a free one.")] = 8011,
    alias: Annotated[str, Opt(help="Served model name: configs use openai/<alias>.")]
    = "smollm2",
    n_ctx: Annotated[int, Opt(min=256, help="Context window (tokens).")] = 8192,
    threads: Annotated[int | None, Opt(min=1, help="CPU threads (default: half the CPUs).")] = None,
    ready_timeout: Annotated[float, Opt(min=1.0, help="Seconds to wait for the model.")]
    = 180.0,
    run: Annotated[str | None, Opt(help="Run this config against the server, write a "
                                        "labelling sheet for human raters, then stop.")]
    = None,
    sheet_items: Annotated[int, Opt(min=1, help="--run: items on the labelling sheet.")] = 40,
) -> None:
    """Serve a local GGUF model (llama-cpp-python) until Ctrl-C; point configs at it.

    \b
    judge serve-local                          serve the bundled SmolLM2-135M on :8011
    judge serve-local --run CONFIG             serve, run CONFIG, write the labelling sheet
    """
    if run is not None:
        guard(lambda: _serve_and_run(run, model, port, alias, n_ctx, threads, ready_timeout,
                                     sheet_items))
        return
    guard(lambda: _serve(model, port, alias, n_ctx, threads, ready_timeout))


def _serve_and_run(config: str, model: Path | None, port: int, alias: str, n_ctx: int,
                   threads: int | None, ready_timeout: float, sheet_items: int) -> None:
    load_config(config)  # a bad config fails before the model loads
    with start_local_server(model, port=port, alias=alias, n_ctx=n_ctx, threads=threads,
                            ready_timeout=ready_timeout) as srv:
        typer.echo(f"judge serve-local: serving {srv.model} at {srv.base_url}", err=True)
        run_stages_command(config, ["generate", "score", "calibrate"], None, True)
        if not has_human_labels(load_config(config).run_dir):
            write_sheet(config, sheet_items)  # before the report, which points at it
        run_stages_command(config, ["report"], None, True)
    typer.echo(labelling_hint(load_config(config).run_dir))


def has_human_labels(run_dir: Path) -> bool:
    """Whether the run's calibration used any human label (a probes-only calibration.json,
    written when there are none, does not count)."""
    path = run_dir / "calibration.json"
    return path.exists() and bool(json.loads(path.read_text()).get("n_labels"))


def write_sheet(config: str, n: int) -> None:
    """Write the run's blind labelling sheets (first criterion of its first pointwise
    rubric; every item of a small run) under ``RUN_DIR/labelling/``."""
    cfg = load_config(config)
    rb = next(r for r in load_rubrics(cfg.rubrics) if r.mode == "pointwise" and r.criteria)
    items, rubric, crit = labelling_items(cfg, f"{rb.id}.{rb.criteria[0].id}")
    n = min(n, items["item_id"].nunique())  # a small run: every item
    write_sample_sheet(items, cfg.run_dir / "labelling", n, seed=cfg.seed, rubric=rubric,
                       criterion=crit)


def _serve(model: Path | None, port: int, alias: str, n_ctx: int, threads: int | None,
           ready_timeout: float) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with start_local_server(model, port=port, alias=alias, n_ctx=n_ctx, threads=threads,
                            ready_timeout=ready_timeout) as srv:
        typer.echo(f"judge serve-local: listening on {srv.base_url} (model openai/{srv.alias}"
                   f", {srv.model_path.name}); Ctrl-C stops it", err=False)
        while not stop.wait(0.5):
            if srv.proc.poll() is not None:
                typer.secho(f"error: the server exited with code {srv.proc.returncode}:\n"
                            f"{srv.output()[-800:]}", fg="red", err=True)
                raise typer.Exit(1)
    typer.echo("judge serve-local: stopped", err=True)
