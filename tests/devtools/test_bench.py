"""``hub bench`` end to end at a small N: real worker processes, the Tencent fake, SQLite."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from hub.cli import bench
from tests.conftest import required_env


@pytest.mark.timeout(300)
def test_bench_sends_every_message_and_reports_its_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no config.yaml here: embedded Redis, as on a fresh machine
    monkeypatch.delenv("HUB_REDIS_URL", raising=False)
    result = CliRunner().invoke(_bench_app(), ["bench", "--n", "200", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 200
    assert report["messages"] == report["sent"] == report["provider_received"] == 200
    assert report["msgs_per_s"] > 0
    assert report["p99_ms"] > 0
    assert report["latency"]["messages"] == 200
    assert 0 < report["peak_rss_mb"] < 1000
    assert set(report["breakdown"]) >= {"plan_s", "insert_s", "dispatch_s", "total_s"}


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_bench_runs_on_a_scratch_postgres_database_with_four_workers_showing_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUB_REDIS_URL", raising=False)
    server = required_env("HUB_TEST_POSTGRES_URL")
    result = CliRunner().invoke(
        _bench_app(),
        ["bench", "--n", "120", "--workers", "4", "--database-url", server, "--no-latency"],
    )
    assert result.exit_code == 0, result.output
    assert "120/120 条已发送" in result.stdout
    assert "（4 个 worker），服务商收到 120 条" in result.stdout
    # Progress on stderr (plain lines: not a terminal), each stage to its end.
    assert "规划入库 120/120（100%）" in result.stderr
    assert "发送 120/120（100%）" in result.stderr
    scratch = re.search(r"scratch database (hub_bench_\w+)", result.stderr)
    assert scratch is not None, result.stderr
    assert scratch.group(1) not in _scratch_databases(server)  # dropped afterwards


def _bench_app() -> typer.Typer:
    app = typer.Typer()
    bench.register(app)
    app.command("noop", hidden=True)(lambda: None)  # a group, so "bench" is a subcommand
    return app


def _scratch_databases(server: str) -> list[str]:
    """The bench's scratch databases left on the server (none while no bench runs)."""

    async def names() -> list[str]:
        url = sa.engine.make_url(server)
        conn = await asyncpg.connect(
            host=url.host, port=url.port, user=url.username, password=url.password,
            database="postgres",
        )  # fmt: skip
        try:
            rows = await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE 'hub_bench_%'"
            )
        finally:
            await conn.close()
        return [row["datname"] for row in rows]

    return asyncio.run(names())
