"""Write a synthetic enterprise registry for import benchmarks.

    python benchmarks/make_registry.py --rows 100000 --out /tmp/registry.csv [--encoding gbk]
    python benchmarks/make_registry.py --rows 100000 --out /tmp/registry.xlsx --xlsx

``--rows`` counts data rows: about 5% of them are second contacts repeating an enterprise.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.devtools.demo_data import ENTERPRISE_COLUMNS, demo_enterprises, write_csv

# the Chinese headers the importer also accepts (docs/design.md); the ids have no Chinese name
CHINESE_HEADERS = {
    "uscc": "统一社会信用代码", "name": "企业名称", "tier": "联络类别", "industry": "行业",
    "region": "区域", "stage": "阶段", "tags": "标签", "contact_name": "联系人", "mobile": "手机",
    "officer": "联络员",
}  # fmt: skip


def registry_rows(rows: int, seed: int, chinese: bool) -> Iterator[dict[str, str]]:
    """Exactly ``rows`` rows of ``demo_enterprises``, headers translated when ``chinese``."""
    for row in itertools.islice(demo_enterprises(rows, seed), rows):
        yield {CHINESE_HEADERS.get(k, k): v for k, v in row.items()} if chinese else row


def write_xlsx(path: Path, rows: Iterator[dict[str, str]], chinese: bool) -> int:
    """Stream ``rows`` into a one-sheet workbook (openpyxl write-only mode)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("企业名册")
    sheet.append([CHINESE_HEADERS.get(c, c) if chinese else c for c in ENTERPRISE_COLUMNS])
    written = 0
    for row in rows:
        sheet.append(list(row.values()))
        written += 1
    workbook.save(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, write the file, report rows and seconds on stderr."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="data rows to write")
    parser.add_argument("--out", type=Path, required=True, help="output file")
    parser.add_argument("--encoding", choices=["utf-8-sig", "gbk"], default="utf-8-sig")
    parser.add_argument("--xlsx", action="store_true", help="write an .xlsx workbook")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--chinese-headers", action="store_true", help="统一社会信用代码 etc.")
    args = parser.parse_args(argv)
    if args.rows < 0:
        parser.error("--rows must be >= 0")
    started = time.perf_counter()
    rows = registry_rows(args.rows, args.seed, args.chinese_headers)
    if args.xlsx:
        written = write_xlsx(args.out, rows, args.chinese_headers)
    else:
        written = write_csv(args.out, rows, encoding=args.encoding)
    elapsed = time.perf_counter() - started
    print(f"wrote {written} rows to {args.out} in {elapsed:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
