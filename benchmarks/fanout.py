"""Profile ``hub bench``: the same fan-out run, with the producer and the workers under cProfile.

    python benchmarks/fanout.py                    # 10,000 recipients, 2 workers
    python benchmarks/fanout.py --n 100000 --workers 2 --top 30
    python benchmarks/fanout.py --keep /tmp/fanout # keep the .prof files (snakeviz, pstats)

The producer profile covers the first campaign's ``Outbox.submit`` (plan, render, store,
enqueue); each worker's covers its whole life (``hub worker`` under ``cProfile``). cProfile
slows Python code down, roughly 1.5–2x, so the throughput printed here is lower than
``hub bench`` reports; read the profiles for shares, ``hub bench --json`` for the figure.
pyinstrument is not installed; cProfile is in the standard library.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.devtools.bench import BenchOptions, run_bench


def show(path: Path, top: int) -> None:
    """Print the functions with the most own time, then the most cumulative time."""
    print(f"\n=== {path.name} ===")
    stats = pstats.Stats(str(path))
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"total {total:.2f} s of profiled CPU")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--top", type=int, default=25, help="rows per profile table")
    parser.add_argument("--keep", type=Path, help="write the profiles here and keep them")
    args = parser.parse_args(argv)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="hub-fanout-"))
    folder.mkdir(parents=True, exist_ok=True)
    options = BenchOptions(n=args.n, workers=args.workers, latency=False, profile_dir=folder)
    report = asyncio.run(run_bench(options))
    for path in sorted(folder.glob("*.prof")):
        show(path, args.top)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
