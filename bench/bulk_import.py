"""Bulk import (归集) into PostgreSQL: a CSV of synthetic resident records through connectors.import_file.

`python -m bench.bulk_import [--rows 1000000] [--quick] [--batch 10000]`. Writes the CSV to a temp dir, imports
it into a scratch PostgreSQL database (dropped afterwards) with the hub's GB 11643 check on every subject,
and prints rows/s and the projected time for the 5.8 million records of the reference deployment.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.progress import Progress

from bench.site import postgres_admin_url, scratch_postgres
from bench.ui import make_progress, step
from connectors import FieldSpec, create_store_table, import_file
from hub.core.national_ids import is_valid_resident_id, make_resident_id

REFERENCE_ROWS = 5_800_000  # 25 departments' 46 data categories in the reference county
GOAL_SECONDS = 600.0
QUICK_ROWS = 50_000
HEADER = ["resident_id", "name", "months_paid", "balance", "enrolled", "active", "address"]
FIELDS = [FieldSpec("name"), FieldSpec("months_paid", "integer"), FieldSpec("balance", "number"),
          FieldSpec("enrolled", "date"), FieldSpec("active", "boolean"), FieldSpec("address")]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超"]


@dataclass(frozen=True)
class ImportRate:
    """One timed import: rows in the file, rows imported, seconds from open to last commit."""

    rows: int
    imported: int
    failed: int
    seconds: float
    megabytes: float

    @property
    def per_second(self) -> float:
        """Return rows imported per second."""
        return self.imported / self.seconds if self.seconds > 0 else 0.0

    @property
    def projected_seconds(self) -> float:
        """Return the time 5.8 million rows would take at this rate."""
        return REFERENCE_ROWS / self.per_second if self.per_second else float("inf")


def resident_id(i: int) -> str:
    """Return the i-th distinct valid resident ID (998 people per birth day, one region per 20,000 days)."""
    day, rank = divmod(i, 998)
    region = f"{350102 + day // 20_000:06d}"
    return make_resident_id(region, date(1940, 1, 1) + timedelta(days=day % 20_000), rank // 2 + 1, "MF"[rank % 2])


def write_csv(path: Path, rows: int, tick: Callable[[float], None] | None = None) -> None:
    """Write `rows` synthetic social-insurance records with valid resident IDs."""
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow([resident_id(i), SURNAMES[i % 20] + GIVEN[i % 18], i % 360, f"{(i % 100_000) / 4:.2f}",
                             f"{2000 + i % 25}-{1 + i % 12:02d}-{1 + i % 28:02d}", "true" if i % 3 else "false",
                             f"示例市鼓楼区五四路{i % 999 + 1}号"])
            if tick and i % 50_000 == 0:
                tick(i)


def run(rows: int, console: Console, progress: Progress | None = None, batch_size: int = 10_000) -> ImportRate:
    """Generate the CSV, import it into a scratch PostgreSQL database, and return the rate."""
    with ExitStack() as stack:
        if progress is None:
            progress = stack.enter_context(make_progress(console))
        path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-bench-import-"))) / "insured.csv"
        with step(progress, f"Writing a {rows:,}-row CSV", rows) as tick:
            write_csv(path, rows, tick)
        megabytes = path.stat().st_size / 1e6
        engine = sa.create_engine(stack.enter_context(scratch_postgres(postgres_admin_url())))
        stack.callback(engine.dispose)
        create_store_table(engine)
        with step(progress, f"Bulk import of {rows:,} rows into PostgreSQL", rows) as tick:
            started = time.perf_counter()
            report = import_file(engine, path, source_id="bench-labour-insured", fmt="csv",
                                 subject_field="resident_id", fields=FIELDS, subject_check=is_valid_resident_id,
                                 batch_size=batch_size, progress=lambda done, _total: tick(done))
            seconds = time.perf_counter() - started
    if report.failed:
        raise RuntimeError(f"{report.failed} rows failed to import; first: {report.errors[0]}")
    return ImportRate(report.total, report.imported, report.failed, seconds, megabytes)


def describe(rate: ImportRate) -> str:
    """Return the figure as one line: rows/s and the projected time for 5.8 M rows."""
    verdict = "within" if rate.projected_seconds <= GOAL_SECONDS else "OVER"
    return (f"{rate.per_second:,.0f} rows/s ({rate.imported:,} rows, {rate.megabytes:,.0f} MB CSV, "
            f"{rate.seconds:.1f} s); 5.8 M rows ≈ {rate.projected_seconds / 60:.1f} min ({verdict} the 10 min goal)")


def main(argv: list[str] | None = None) -> int:
    """Run the import benchmark once and print its figure."""
    parser = argparse.ArgumentParser(prog="python -m bench.bulk_import", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="records in the CSV (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help=f"import {QUICK_ROWS:,} rows")
    parser.add_argument("--batch", type=int, default=10_000, help="rows per COPY + upsert batch (default 10,000)")
    args = parser.parse_args(argv)
    console = Console()
    rate = run(QUICK_ROWS if args.quick else args.rows, console, batch_size=args.batch)
    console.print(f"Bulk import, PostgreSQL: [bold]{describe(rate)}[/bold]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
