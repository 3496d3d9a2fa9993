"""Benchmark smart answers' retrieval: build a 10,000-entry library's index, ask it questions.

    python benchmarks/answers.py                        # 10,000 entries, 5,000 questions
    python benchmarks/answers.py --entries 2000 --asks 1000 --json

The library is the demo's (``hub/devtools/demo_faq.csv`` and the twenty demo policies split into
passages, as ``hub demo`` loads them), grown to ``--entries`` by deterministic variants: each
variant of an entry gets its own id and its questions and answer qualified by a year, a
district, an industry and a programme name drawn by a seeded generator, so the index holds as
many distinct documents and as large a vocabulary as a city's library would (not 10,000 copies
of one text). The questions are the evaluation set's (``tests/knowledge/eval/questions.csv``:
paraphrases, typos, full-width, out of scope), repeated to ``--asks``.

Timed: ``KnowledgeIndex.build`` (jieba's user dictionary from the library's terms, both BM25
indexes), then each ``index.ask(question, today=...)`` one after another in this process
(answers per second = asks / their total time; p50/p99 per ask). CPU seconds beside the wall
time: on a shared machine the wall time includes waiting for a core. Memory: this process's
resident set (``VmRSS``) before and after the build, and its peak (``VmHWM``), from
``/proc/self/status``. The machine (CPUs, model) is printed with the figures.

``confident_share`` is not the evaluation's coverage: a variant is a near-twin of its original
under another id, so the margin rule hands most questions whose entry has variants to a person.
It is printed to show the decision ran, not how good it is (``hub answers eval`` says that).
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import platform
import random
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.devtools.bench_measure import percentile
from hub.devtools.demo_data import INDUSTRIES, REGIONS
from hub.devtools.demo_records import demo_policies
from hub.knowledge.corpus import faq_entry, policy_entries
from hub.knowledge.engine import KnowledgeIndex
from hub.knowledge.settings import AnswerSettings
from hub.knowledge.verdict import Entry
from hub.store.models import FaqEntry, Policy

ROOT = Path(__file__).resolve().parent.parent
DEMO_FAQ = ROOT / "hub" / "devtools" / "demo_faq.csv"
QUESTIONS = ROOT / "tests" / "knowledge" / "eval" / "questions.csv"
TODAY = date(2026, 12, 7)
PROGRAMMES = ("专项行动", "惠企服务", "营商环境提升", "一件事一次办", "免申即享", "助企纾困",
              "数字化转型", "绿色低碳", "人才引育", "科技创新")  # fmt: skip


def base_entries(today: date) -> list[Entry]:
    """The demo library as retrieval indexes it: the FAQ file and the demo policies' passages."""
    entries: list[Entry] = []
    with DEMO_FAQ.open(encoding="utf-8-sig", newline="") as file:
        for row in csv.DictReader(file):
            valid = row.get("valid_until") or ""
            entries.append(faq_entry(FaqEntry(
                faq_id=row["faq_id"], version=1, question=row["question"],
                alternates=row.get("alternates") or "", answer=row["answer"],
                department=row.get("department") or None, source=row.get("source") or None,
                valid_until=date.fromisoformat(valid) if valid else None,
            )))  # fmt: skip
    for row in demo_policies(today):
        apply_by = row["apply_by"]
        policy = Policy(
            policy_id=row["policy_id"], title=row["title"], summary=row["summary"],
            department=row["department"], url=row["url"], text=row["text"],
            apply_by=date.fromisoformat(apply_by) if apply_by else None,
        )  # fmt: skip
        entries.extend(policy_entries(policy))
    return entries


def library(size: int, today: date, seed: int = 2026) -> list[Entry]:
    """``size`` entries: the demo library first, then its variants (see the module docstring)."""
    base = base_entries(today)
    rng = random.Random(seed)
    places, industries = sorted(REGIONS), sorted(INDUSTRIES)
    entries = list(base[:size])
    while len(entries) < size:
        original = base[len(entries) % len(base)]
        n = len(entries)
        year = 2018 + rng.randrange(9)
        place = rng.choice(places)
        industry = rng.choice(industries)
        programme = rng.choice(PROGRAMMES)
        qualifier = f"{year}年{place}{industry}{programme}"
        entries.append(replace(
            original,
            entry_id=f"{original.entry_id.replace('#', '-')}-V{n:05d}",
            kind="faq",  # a variant answers on its own, not as a passage of the policy
            title=f"{qualifier}：{original.title}",
            questions=tuple(f"{qualifier}{q}" for q in original.questions),
            answer=f"（{qualifier}）{original.answer}",
        ))  # fmt: skip
    return entries


def questions(asks: int) -> list[str]:
    """The evaluation set's questions, repeated to ``asks``."""
    with QUESTIONS.open(encoding="utf-8-sig", newline="") as file:
        texts = [row["question"] for row in csv.DictReader(file) if row["question"].strip()]
    return [texts[i % len(texts)] for i in range(asks)]


def memory_mb() -> dict[str, float]:
    """This process's resident set now and at its peak (``/proc/self/status``), in MiB."""
    figures = {"VmRSS": 0.0, "VmHWM": 0.0}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in figures:
            figures[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": figures["VmRSS"], "peak_rss_mb": figures["VmHWM"]}


def machine() -> dict[str, Any]:
    """Where the figures were measured: CPUs, their model, Python."""
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_model": model,
            "python": platform.python_version()}  # fmt: skip


def bench(size: int, asks: int, seed: int) -> dict[str, Any]:
    """Build the index of ``size`` entries and time ``asks`` questions; the figures."""
    entries = library(size, TODAY, seed)
    texts = questions(asks)
    gc.collect()
    before = memory_mb()
    started, cpu = time.perf_counter(), time.process_time()
    index = KnowledgeIndex.build(entries, AnswerSettings())
    build_seconds, build_cpu = time.perf_counter() - started, time.process_time() - cpu
    after = memory_mb()
    # A running hub rebuilds when the library changes: jieba and bm25s are loaded by then.
    started = time.perf_counter()
    KnowledgeIndex.build(entries, AnswerSettings())
    rebuild_seconds = time.perf_counter() - started
    index.ask(texts[0], today=TODAY)  # the first ask loads what the segmenter defers
    latencies: list[float] = []
    answered = 0
    cpu = time.process_time()
    cpu_latencies: list[float] = []
    for text in texts:
        start, start_cpu = time.perf_counter(), time.process_time()
        verdict = index.ask(text, today=TODAY)
        latencies.append(time.perf_counter() - start)
        cpu_latencies.append(time.process_time() - start_cpu)
        answered += verdict.confident
    asks_cpu = time.process_time() - cpu
    total = sum(latencies)
    latencies.sort()
    cpu_latencies.sort()
    return {
        "entries": len(index),
        "build_seconds": round(build_seconds, 2),
        "build_cpu_seconds": round(build_cpu, 2),
        "rebuild_seconds": round(rebuild_seconds, 2),
        "asks": len(texts),
        "answers_per_second": round(len(texts) / total, 1) if total else None,
        "answers_per_cpu_second": round(len(texts) / asks_cpu, 1) if asks_cpu else None,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "p50_cpu_ms": round(percentile(cpu_latencies, 0.50) * 1000, 2),
        "p99_cpu_ms": round(percentile(cpu_latencies, 0.99) * 1000, 2),
        "confident_share": round(answered / len(texts), 3),
        "rss_before_build_mb": before["rss_mb"],
        "rss_after_build_mb": after["rss_mb"],
        "peak_rss_mb": memory_mb()["peak_rss_mb"],
        "machine": machine(),
    }


def main(argv: list[str] | None = None) -> int:
    """Build, ask, print the figures (a table, or one JSON object with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--asks", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = bench(args.entries, args.asks, args.seed)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    host = result["machine"]
    print(f"{result['entries']} entries, {result['asks']} questions; "
          f"{host['nproc']} CPUs, {host['cpu_model']}")  # fmt: skip
    print(f"index build      {result['build_seconds']:8.2f} s (first in the process, "
          f"CPU {result['build_cpu_seconds']:.2f} s), "
          f"rebuild {result['rebuild_seconds']:.2f} s")  # fmt: skip
    print(f"answers/s        {result['answers_per_second']:8.1f} "
          f"({result['answers_per_cpu_second']} per CPU second)")  # fmt: skip
    print(f"p50 / p99 / max  {result['p50_ms']:.2f} / {result['p99_ms']:.2f} / "
          f"{result['max_ms']:.2f} ms (CPU p50 / p99 {result['p50_cpu_ms']:.2f} / "
          f"{result['p99_cpu_ms']:.2f} ms)")  # fmt: skip
    print(f"RSS before/after build {result['rss_before_build_mb']} / "
          f"{result['rss_after_build_mb']} MB, peak {result['peak_rss_mb']} MB")  # fmt: skip
    print(f"confident (would answer) {result['confident_share']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
