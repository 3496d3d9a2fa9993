"""``hub bench``'s database: migrated, and N demo registry rows written as CSV files of about
``ROWS_PER_FILE`` rows, each imported.

Run as a child process (``python -m hub.devtools.bench_registry FOLDER N SEED``) so that the
generator's state (a million rows' unique names) never sits in the producer's memory, and each
file is imported by a ``hub import`` of its own, whose parse of the whole file stays a few
hundred MB at 100,000 rows instead of gigabytes at a million.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from hub.devtools import processes
from hub.devtools.demo_data import demo_departments, demo_enterprises, demo_officers, write_csv

ROWS_PER_FILE = 100_000


def write_registry_files(
    folder: Path, n: int, seed: int, *, rows_per_file: int = ROWS_PER_FILE
) -> list[Path]:
    """departments.csv, officers.csv, then registry-NNN.csv with exactly ``n`` rows in all
    (n contacts; about 5% are an enterprise's second contact). A file ends only between two
    enterprises: an enterprise's contacts are imported together."""
    write_csv(folder / "departments.csv", demo_departments())
    write_csv(folder / "officers.csv", demo_officers())
    files: list[Path] = []
    with contextlib.ExitStack() as stack:
        writer: csv.DictWriter[str] | None = None
        count, last = 0, ""
        for row in itertools.islice(demo_enterprises(n, seed), n):
            if writer is None or (count >= rows_per_file and row["uscc"] != last):
                stack.close()
                files.append(folder / f"registry-{len(files):03d}.csv")
                # utf-8-sig as write_csv: what Excel saves, what hub import reads
                handle = stack.enter_context(files[-1].open("w", encoding="utf-8-sig", newline=""))
                writer = csv.DictWriter(handle, fieldnames=list(row))
                writer.writeheader()
                count = 0
            writer.writerow(row)
            count, last = count + 1, row["uscc"]
    return files


def registry_files(folder: Path) -> list[tuple[str, Path]]:
    """The files :func:`write_registry_files` wrote, with their import kind, in import order."""
    return [("departments", folder / "departments.csv"), ("officers", folder / "officers.csv"),
            *(("enterprises", path) for path in sorted(folder.glob("registry-*.csv")))]  # fmt: skip


def seed_database(
    config: Sequence[str], folder: Path, n: int, seed: int, *, env: Mapping[str, str]
) -> None:
    """``hub db upgrade`` in a child, as a deployment runs it (Alembic stays out of the
    producer's memory figure); the registry written in a child (the generator's state too);
    then ``hub import`` each file in a child of its own. Blocking: call it in a thread."""
    processes.run_hub(*config, "db", "upgrade", env=env, log=folder / "upgrade.log")
    argv = [sys.executable, "-m", "hub.devtools.bench_registry", str(folder), str(n), str(seed)]
    writer = processes.start_process(argv, env=env, log=folder / "registry.log")
    if writer.wait() != 0:
        raise RuntimeError(f"writing the registry failed ({writer.where()})")
    for number, (kind, path) in enumerate(registry_files(folder)):
        log = folder / f"import-{number:03d}-{kind}.log"
        processes.run_hub(*config, "import", kind, str(path), env=env, log=log)


def main(argv: list[str]) -> int:
    folder, n, seed = Path(argv[0]), int(argv[1]), int(argv[2])
    write_registry_files(folder, n, seed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
