"""The config.yaml of a benchmark run against the Tencent fake, and the fake's credentials.

Shared by ``hub bench``, the crash drill and the benchmarks under ``benchmarks/`` (imported from
:mod:`hub.devtools.bench`, which re-exports them).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path

SDK_APP_ID = "1400000000"
SIGN_NAME = "主动服务"
_CONFIG = """\
hub: {{data_dir: "{data_dir}"}}
storage: {{url: "{storage_url}", busy_timeout_ms: {busy_timeout_ms}}}
redis: {{url: "{redis_url}", key_prefix: {prefix}}}
logging: {{level: WARNING}}
dispatch: {{batch_size: 200, block_ms: 100, max_backlog: {max_backlog}}}
channels:
  default: {default_channel}
  sms:
    provider: tencent
    tencent:
      enabled: true
      endpoint: "{fake_url}"
      qps: {qps}
      secret_id: ${{HUB_BENCH_SECRET_ID}}
      secret_key: ${{HUB_BENCH_SECRET_KEY}}
      path_secret: ${{HUB_BENCH_PATH_SECRET}}
      sdk_app_id: "{app}"
      sign_name: {sign}
{tencent_extra}quiet_hours: {{bypass: [{bypass}]}}
routing: {{chains: {{default: [sms]}}}}
{sections}"""


def bench_config(
    *, data_dir: Path, redis_url: str, prefix: str, fake_url: str, qps: float,
    default_channel: str = "sandbox", status_settle_s: float | None = None,
    bypass: Sequence[str] = ("policy_push",), busy_timeout_ms: int = 5000, sections: str = "",
    storage_url: str | None = None, max_backlog: int = 10_000,
) -> str:  # fmt: skip
    """The config.yaml of a run against the Tencent fake (``hub bench``, the crash drill,
    ``benchmarks/inbound.py``): the credentials come from the environment :func:`secret_env`
    makes. Quiet hours bypassed for the ``bypass`` kinds: a benchmark run at night must not be
    held until 08:00. ``sections``: whole top-level sections a run adds (``web:``, ``tickets:``).
    ``storage_url``: the database (default: ``hub.db`` in ``data_dir``). ``max_backlog``: the
    producer's bound on messages waiting on the stream (``dispatch.max_backlog``; 0: none)."""
    extra = "" if status_settle_s is None else f"      status_settle_seconds: {status_settle_s}\n"
    return _CONFIG.format(
        data_dir=data_dir, redis_url=redis_url, prefix=prefix, fake_url=fake_url, qps=qps,
        app=SDK_APP_ID, sign=SIGN_NAME, default_channel=default_channel, tencent_extra=extra,
        bypass=", ".join(bypass), busy_timeout_ms=busy_timeout_ms, sections=sections,
        storage_url=storage_url or f"sqlite+aiosqlite:///{data_dir}/hub.db",
        max_backlog=max_backlog,
    )  # fmt: skip


def secret_env() -> dict[str, str]:
    """Fresh Tencent credentials and webhook path secret, as the config reads them."""
    return {
        "HUB_BENCH_SECRET_ID": "AKID" + secrets.token_hex(16),
        "HUB_BENCH_SECRET_KEY": secrets.token_hex(16),
        "HUB_BENCH_PATH_SECRET": secrets.token_hex(8),
    }


def tencent_fake_options(env: dict[str, str]) -> list[str]:
    """The Tencent fake's options matching :func:`bench_config` (credentials from ``env``)."""
    return ["--secret-id", env["HUB_BENCH_SECRET_ID"], "--secret-key", env["HUB_BENCH_SECRET_KEY"],
            "--sdk-app-id", SDK_APP_ID, "--sign-name", SIGN_NAME]  # fmt: skip
