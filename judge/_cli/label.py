"""``judge label SHEET`` (the local labelling page) and ``judge labels check|import``.

Loaded on first use by judge/cli.py (``COMMANDS``). docs/LABELLING.md.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import typer

from judge._cli.common import guard
from judge.calibration import read_judgments
from judge.errors import UsageError
from judge.labelling import (
    check_reliability,
    format_report,
    is_answers_file,
    read_any_labels,
    read_key,
    read_manifest,
)
from judge.labelling import specs_by_rubric as sbr
from judge.labelling._server import serve

labels_app = typer.Typer(no_args_is_help=True, help="Check and import human labels.")


def label_cmd(
        sheet: Path = typer.Argument(..., help="A rater's copy: raters/sheet-<rater>.jsonl."),
        port: int = typer.Option(8765, "--port", help="Port on 127.0.0.1 (0: any free)."),
        labels: Path = typer.Option(None, "--labels",
                                    help="Labels JSONL to append to (default: "
                                         "<sheet>.labels.jsonl beside the sheet).")) -> None:
    """Serve a labelling page on 127.0.0.1: one item at a time, answers saved as you go."""
    def go() -> None:
        if sheet.suffix != ".jsonl":
            raise UsageError(f"{sheet} is not a sheet JSONL", field="SHEET",
                             hint="pass raters/sheet-<rater>.jsonl from `judge calibrate sample`")
        out = labels or sheet.with_suffix(".labels.jsonl")
        try:
            srv = serve(sheet, out, port)
        except OSError as err:
            raise UsageError(f"cannot listen on 127.0.0.1:{port}: {err}", field="--port") from err
        typer.echo(f"labelling {len(srv.rows)} items at {srv.url} ; answers -> {out} "
                   "(Ctrl-C to stop)", err=True)
        try:
            srv.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            srv.server_close()
    guard(go)


@labels_app.command("check")
def check_cmd(
        labels: Path = typer.Argument(..., help="Labels: answers JSONL, filled sheet CSV, "
                                                "Label Studio .json, or HumanLabel JSONL/CSV."),
        key: Path = typer.Option(None, "--key", help="Sheet directory (key.jsonl, sheet.json)."),
        judgments: Path = typer.Option(None, "--judgments",
                                       help="Judgments (item_id, criterion, score): compare "
                                            "the judge's agreement with the humans'."),
        B: int = typer.Option(500, "--B", help="Bootstrap replicates."),
        seed: int = typer.Option(0, "--seed"),
        out: Path = typer.Option(None, "--out", help="Write the report as JSON here.")) -> None:
    """Reliability before use: alpha among humans (CI), per-rater agreement, outliers,
    skip rates and time per item; warns when humans agree less than the judge."""
    def go() -> None:
        key_dir = key or labels.parent
        needs_key = labels.suffix == ".json" or is_answers_file(labels)
        if needs_key and not (key_dir / "key.jsonl").exists():
            raise UsageError(f"no key.jsonl in {key_dir}", field="--key",
                             hint="pass the sheet directory written by `judge calibrate sample`")
        answers, labs = read_any_labels(labels, key_dir)
        df = pd.DataFrame([{"item_id": x.target_id, "rater": x.rater, "score": x.score,
                            "criterion": x.criterion} for x in labs],
                          columns=["item_id", "rater", "score", "criterion"])
        specs, clusters = {}, None
        if (key_dir / "sheet.json").exists():
            specs = {c: s for by in sbr(read_manifest(key_dir)).values() for c, s in by.items()}
            clusters = {k.item_id: k.cluster or k.item_id
                        for k in read_key(key_dir).values()}
        adf = None
        if answers:
            adf = pd.DataFrame([{"rater": a.rater, "row_id": a.row_id, "skipped": a.skipped,
                                 "seconds": a.seconds} for a in answers])
        jdf = None
        if judgments:
            jdf = read_judgments(judgments)
        rep = check_reliability(df, specs=specs, answers=adf, judgments=jdf,
                                clusters=clusters, B=B, seed=seed)
        typer.echo(format_report(rep))
        if out:
            out.write_text(json.dumps(rep.to_json(), indent=2, default=str) + "\n")
            typer.echo(f"wrote {out}")
    guard(go)


@labels_app.command("import")
def import_cmd(
        labels: Path = typer.Argument(..., help="Answers JSONL, filled sheet CSV or Label "
                                                "Studio .json export."),
        key: Path = typer.Option(None, "--key", help="Sheet directory (key.jsonl, sheet.json)."),
        out: Path = typer.Option(..., "--out", help="HumanLabel .jsonl (for human_labels."
                                                    "path) or .csv (item_id, rater, criterion, "
                                                    "score: for judge calibrate --labels).")
        ) -> None:
    """Turn answers into human labels (item ids and weights from the key): use the output
    as `human_labels.path` or `judge calibrate --labels`."""
    def go() -> None:
        _, labs = read_any_labels(labels, key)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".csv":  # the standalone shape (`judge calibrate --labels`)

            with open(out, "w", encoding="utf-8", newline="") as fh:
                wr = csv.writer(fh)
                wr.writerow(["item_id", "rater", "criterion", "score", "rubric",
                             "inclusion_prob"])
                for lab in labs:
                    wr.writerow([lab.target_id, lab.rater, lab.criterion, lab.score,
                                 lab.rubric_id or "", lab.meta.get("inclusion_prob", "")])
        else:
            with open(out, "w", encoding="utf-8") as fh:
                for lab in labs:
                    fh.write(lab.model_dump_json() + "\n")
        typer.echo(f"wrote {len(labs)} labels to {out}")
    guard(go)
