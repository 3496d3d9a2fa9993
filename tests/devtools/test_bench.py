"""``hub bench`` end to end at a small N: real worker processes, the Tencent fake, SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hub.cli import bench


@pytest.mark.timeout(300)
def test_bench_sends_every_message_and_reports_its_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no config.yaml here: embedded Redis, as on a fresh machine
    monkeypatch.delenv("HUB_REDIS_URL", raising=False)
    app = typer.Typer()
    bench.register(app)
    app.command("noop", hidden=True)(lambda: None)  # a group, so "bench" is a subcommand
    result = CliRunner().invoke(app, ["bench", "--n", "200", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 200
    assert report["messages"] == report["sent"] == 200
    assert report["msgs_per_s"] > 0
    assert report["p99_ms"] > 0
    assert report["latency"]["messages"] == 200
    assert 0 < report["peak_rss_mb"] < 1000
    assert set(report["breakdown"]) >= {"plan_s", "insert_s", "dispatch_s", "total_s"}
