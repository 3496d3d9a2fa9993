"""``hub bench``: the fan-out benchmark (see :mod:`hub.devtools.bench` for what it runs and
measures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hub.app.config import config_path, load_settings
from hub.cli.common import err, out, print_json, run_async
from hub.cli.progress import SendProgress
from hub.core.errors import ConfigError, UsageError
from hub.devtools.bench import DEFAULT_MAX_BACKLOG, BenchOptions, run_bench
from hub.infra.redis_server import EMBEDDED


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def bench(
    ctx: typer.Context,
    n: int = typer.Option(10_000, "--n", min=1, help="recipients (demo registry rows)"),
    workers: int = typer.Option(2, "--workers", min=1, max=16, help="hub worker processes"),
    redis_url: str | None = typer.Option(
        None,
        "--redis-url",
        envvar="HUB_REDIS_URL",
        help="a Redis server (default: the config's, if a server; else embedded)",
    ),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="a PostgreSQL server (postgresql+asyncpg://...): the run creates a scratch "
        "database there and drops it afterwards (default: SQLite in the scratch folder)",
    ),
    latency: bool = typer.Option(
        True, "--latency/--no-latency", help="also measure p99 latency at half the rate"
    ),
    max_backlog: int = typer.Option(
        DEFAULT_MAX_BACKLOG,
        "--max-backlog",
        min=0,
        help="messages waiting on the stream beyond which planning waits (0: no limit)",
    ),
    keep: Path | None = typer.Option(None, "--keep", help="work in this folder and keep it"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """吞吐基准：N 条个性化短信走完整链路（规划→渲染→落库→入队→发送→记录）。"""
    if database_url is not None and not database_url.startswith("postgresql+asyncpg://"):
        raise UsageError("--database-url 须为 PostgreSQL 地址（postgresql+asyncpg://…）")
    options = BenchOptions(
        n=n,
        workers=workers,
        redis_url=redis_url or _configured_redis(ctx),
        database_url=database_url,
        keep=keep,
        latency=latency,
        max_backlog=max_backlog,
    )
    # Planning and sending bars on stderr (plain lines when it is not a terminal; none for JSON).
    with SendProgress(err, enabled=not as_json) as progress:
        report = run_async(run_bench(options, progress=progress))
    if as_json:
        print_json(report)
    else:
        _print_report(report)
    if not (report["sent"] == report["messages"] == report["provider_received"]):
        raise typer.Exit(1)


def _print_report(report: dict[str, Any]) -> None:
    breakdown = report["breakdown"]
    out.print(
        f"{report['sent']}/{report['messages']} 条已发送：{report['msgs_per_s']:.0f} 条/秒，"
        f"峰值内存合计 {report['peak_rss_mb']:.0f} MB（{report['workers']} 个 worker），"
        f"服务商收到 {report['provider_received']} 条"
    )
    if report.get("metrics_peak_per_s"):
        out.print(f"  /metrics 发送速率峰值 {report['metrics_peak_per_s']:.0f} 条/秒")
    out.print(
        f"  规划 {breakdown['plan_s']} s，落库 {breakdown['insert_s']} s，"
        f"入队 {breakdown['enqueue_s']} s，提交共 {breakdown['submit_s']} s，"
        f"发送 {breakdown['dispatch_s']} s，总计 {breakdown['total_s']} s"
    )
    if report.get("latency"):
        lat = report["latency"]
        out.print(
            f"  半速 {lat['rate_per_s']:.0f} 条/秒时，提交→服务商延迟 "
            f"p50 {lat['p50_ms']} ms，p99 {lat['p99_ms']} ms"
        )


def _configured_redis(ctx: typer.Context) -> str | None:
    """The config's Redis server, when a config file is there and names one (not embedded)."""
    path = config_path(ctx.ensure_object(dict).get("config_path"))
    if not path.is_file():
        return None
    try:
        url = load_settings(path).redis.url
    except ConfigError as exc:
        raise UsageError(f"hub bench 读取配置失败：{exc}") from exc
    return None if url == EMBEDDED else url
