"""Benchmark ``hub import enterprises``: parse + upsert of a synthetic registry, twice.

    python benchmarks/import_registry.py                          # 100,000 rows, CSV, SQLite
    python benchmarks/import_registry.py --rows 20000 --xlsx
    python benchmarks/import_registry.py --encoding gbk --postgres postgresql+asyncpg://...

The rows come from ``hub.devtools.demo_data.demo_enterprises`` (about 5% of them are second contacts
repeating an enterprise). They are written to a temporary file and imported into a fresh,
migrated SQLite database (and, with ``--postgres URL``, into a scratch database created on that
server and dropped afterwards) through ``hub.importing.service.import_file``, the code path of
the CLI: departments and officers first, then the enterprises twice. The first run must create
every enterprise and the second must find every one unchanged, or the script fails.

Prints one JSON line per database on stdout (progress goes to stderr), e.g.::

    {"database": "sqlite", "rows": 100000, "enterprises": 95223, "runs": [
        {"run": "first", "seconds": 18.33, "parse_seconds": 7.97, "upsert_seconds": 10.36,
         "rows_per_second": 5455, "valid": 100000, "created": 95223, "updated": 0,
         "unchanged": 0, "rejected": 0, "peak_rss_mb": 242.5},
        {"run": "second", ..., "unchanged": 95223, ...}], "format": "csv/utf-8-sig"}

``seconds`` is parse + upsert as ``hub import`` runs them; ``parse_seconds`` ends when the
parsed records are handed to the upsert. The target is under 30 s for 100,000 rows in every
format: CSV in UTF-8 or GBK, and XLSX. ``peak_rss_mb`` is the process's peak resident set so
far (``getrusage``), so the second run's figure can only be equal or higher; XLSX costs more
memory than CSV because calamine loads the whole sheet before handing out its rows.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.core.clock import FixedClock
from hub.devtools.demo_data import (
    ENTERPRISE_COLUMNS,
    demo_departments,
    demo_enterprises,
    demo_officers,
    write_csv,
)
from hub.devtools.scratch_database import scratch_postgres
from hub.importing.service import ImportReport, import_file
from hub.store.db import Database
from hub.store.migrate import upgrade

CLOCK = FixedClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_registry(path: Path, rows: int, seed: int, *, xlsx: bool, encoding: str) -> int:
    """Write exactly ``rows`` enterprise rows to ``path``; return the number written."""
    data = itertools.islice(demo_enterprises(rows, seed), rows)
    if not xlsx:
        return write_csv(path, data, encoding=encoding)
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("企业名册")
    sheet.append(list(ENTERPRISE_COLUMNS))
    written = 0
    for row in data:
        sheet.append([row[column] for column in ENTERPRISE_COLUMNS])
        written += 1
    workbook.save(path)
    return written


async def timed_import(db: Database, path: Path, label: str) -> dict[str, Any]:
    """Import ``path`` once; time the parse (until ``on_parsed``) and the upsert apart."""
    parsed_at: list[float] = []
    started = time.perf_counter()
    report = await import_file(
        db,
        "enterprises",
        path,
        CLOCK,
        on_parsed=lambda _count: parsed_at.append(time.perf_counter()),
    )
    finished = time.perf_counter()
    seconds = finished - started
    parse_seconds = parsed_at[0] - started if parsed_at else seconds
    return {
        "run": label,
        "seconds": round(seconds, 2),
        "parse_seconds": round(parse_seconds, 2),
        "upsert_seconds": round(seconds - parse_seconds, 2),
        "rows_per_second": round(report.valid / seconds) if seconds else None,
        **{
            key: getattr(report, key)
            for key in ("valid", "created", "updated", "unchanged", "rejected")
        },
        "peak_rss_mb": peak_rss_mb(),
    }


def check(report: ImportReport, what: str) -> None:
    if report.rejected:
        raise SystemExit(f"{what}: {report.rejected} rows rejected, see {report.rejects_file}")


async def bench(url: str, name: str, files: dict[str, Path], rows: int) -> dict[str, Any]:
    """Import departments, officers, then the registry twice into the database at ``url``."""
    await upgrade(url)
    db = Database.open(url)
    try:
        check(await import_file(db, "departments", files["departments"], CLOCK), "departments")
        check(await import_file(db, "officers", files["officers"], CLOCK), "officers")
        first = await timed_import(db, files["enterprises"], "first")
        second = await timed_import(db, files["enterprises"], "second")
    finally:
        await db.aclose()
    if first["rejected"] or second["rejected"]:
        raise SystemExit(f"{name}: the generated registry had rejected rows")
    if first["updated"] or first["unchanged"]:
        raise SystemExit(f"{name}: first import should only create, got {first}")
    if second["created"] or second["updated"] or second["unchanged"] != first["created"]:
        raise SystemExit(f"{name}: second import should change nothing, got {second}")
    return {
        "database": name,
        "rows": rows,
        "enterprises": first["created"],
        "runs": [first, second],
    }


async def run(args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    suffix = ".xlsx" if args.xlsx else ".csv"
    files = {
        "departments": folder / "departments.csv",
        "officers": folder / "officers.csv",
        "enterprises": folder / f"registry{suffix}",
    }
    write_csv(files["departments"], demo_departments())
    write_csv(files["officers"], demo_officers())
    started = time.perf_counter()
    written = write_registry(
        files["enterprises"], args.rows, args.seed, xlsx=args.xlsx, encoding=args.encoding
    )
    print(
        f"wrote {written} rows ({files['enterprises'].stat().st_size / 2**20:.1f} MiB) in "
        f"{time.perf_counter() - started:.1f} s; rss {peak_rss_mb()} MB",
        file=sys.stderr,
    )
    results = []
    if not args.skip_sqlite:
        database = folder / "hub.db"
        for stale in (database, folder / "hub.db-wal", folder / "hub.db-shm"):
            stale.unlink(missing_ok=True)  # --keep DIR from an earlier run: start fresh
        url = f"sqlite+aiosqlite:///{database}"
        results.append(await bench(url, "sqlite", files, written))
        _emit(results[-1], args)
    if args.postgres:
        async with scratch_postgres(args.postgres) as url:
            results.append(await bench(url, "postgresql", files, written))
            _emit(results[-1], args)
    return results


def _emit(result: dict[str, Any], args: argparse.Namespace) -> None:
    result = {**result, "format": "xlsx" if args.xlsx else f"csv/{args.encoding}"}
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="data rows (default 100,000)")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--xlsx", action="store_true", help="write and import an .xlsx file")
    parser.add_argument(
        "--encoding",
        choices=["utf-8-sig", "gbk"],
        default="utf-8-sig",
        help="CSV encoding (ignored with --xlsx)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also benchmark PostgreSQL (a scratch database on this server)",
    )
    parser.add_argument("--skip-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="write the files and the SQLite database here and keep them",
    )
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be >= 1")
    if args.skip_sqlite and not args.postgres:
        parser.error("--skip-sqlite needs --postgres")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        asyncio.run(run(args, args.keep))
    else:
        with tempfile.TemporaryDirectory(prefix="hub-bench-") as folder:
            asyncio.run(run(args, Path(folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
