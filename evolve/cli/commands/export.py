"""``evolve export``: every candidate of a run as JSON Lines (the whole record, code and
all) or CSV (the record's scalar fields plus one ``metric.NAME`` column per metric), under
the record's own field names (``evolve.store.views``)."""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated

import typer

from evolve.cli.options import DbOption, RunArg
from evolve.errors import UserError
from evolve.store.reader import Reader
from evolve.store.views import candidate_json, csv_row


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def command(
    run: RunArg = None,
    db: DbOption = None,
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="jsonl or csv.")
    ] = ExportFormat.jsonl,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file (default: stdout).")
    ] = None,
) -> None:
    """Every candidate of a run as JSON Lines or CSV, for analysis elsewhere."""
    reader = Reader.open(db)
    try:
        info = reader.run(run)
        if out is None:
            export(reader, info.id, fmt, sys.stdout)
            return
        try:
            with open(out, "w", encoding="utf-8", newline="") as stream:
                export(reader, info.id, fmt, stream)
        except OSError as exc:
            raise UserError(f"--out {out}: cannot write: {exc}") from None
    finally:
        reader.close()
    print(f"exported run {info.id} to {out}", file=sys.stderr)


def export(reader: Reader, run_id: str, fmt: ExportFormat, stream: IO[str]) -> None:
    """Write the run's candidates, in iteration order, to ``stream``."""
    if fmt is ExportFormat.jsonl:
        for p in reader.programs(run_id):
            stream.write(json.dumps(candidate_json(p), allow_nan=False) + "\n")
        return
    metrics = [f"metric.{name}" for name in reader.metric_names(run_id)]
    writer: csv.DictWriter[str] | None = None
    for p in reader.programs(run_id):
        row = csv_row(p)
        if writer is None:  # the columns: the first row's fields, then every metric
            fields = [k for k in row if not k.startswith("metric.")]
            writer = csv.DictWriter(stream, [*fields, *metrics], restval="")
            writer.writeheader()
        writer.writerow(row)
