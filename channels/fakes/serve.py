"""One command line for every fake: ``python -m channels.fakes NAME [options]``.

A table (:data:`FAKES`) maps each name to its own options and what it does. A server fake
(``tencent_sms``, ``aliyun_sms``, ``telegram_api``) takes ``--host``, ``--port`` (0 picks a free
one), ``--latency-ms`` and ``--no-record`` from here and its own options (credentials, sign
name, error switches) from its module's ``add_options``; it prints its base URL on the first
line of stdout and serves until SIGINT/SIGTERM (``hub bench``, the benchmarks and the drills
start it so, through ``hub.devtools.processes.start_fake``). ``wechat_push`` is a one-shot
command: it delivers one callback to a running hub and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from channels.fakes import aliyun_sms, telegram_api, tencent_sms, wechat_push


class _Switches(Protocol):
    latency_s: float
    record: bool


class ServedFake(Protocol):
    """What a server fake offers: its switches and ``serve(host, port)`` yielding its URL."""

    @property
    def switches(self) -> _Switches: ...

    def serve(self, host: str = ..., port: int = ...) -> AbstractAsyncContextManager[str]: ...


@dataclass(frozen=True, slots=True)
class FakeCommand:
    """One fake's entry: its help line, its own options, and what running it does."""

    help: str
    add_options: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
    served: bool = False  # a server: --host, --port, --latency-ms, --no-record


def served(
    build: Callable[[argparse.Namespace], Any],
) -> Callable[[argparse.Namespace], Coroutine[Any, Any, int]]:
    """Run a server fake built from the options: print its URL, serve until a signal."""

    async def run(args: argparse.Namespace) -> int:
        fake: ServedFake = build(args)
        fake.switches.latency_s = args.latency_ms / 1000
        fake.switches.record = not args.no_record
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with fake.serve(args.host, args.port) as url:
            sys.stdout.write(url + "\n")
            sys.stdout.flush()
            await stop.wait()
        return 0

    return run


FAKES: dict[str, FakeCommand] = {
    "tencent_sms": FakeCommand(
        "Loopback fake of Tencent Cloud SMS SendSms",
        tencent_sms.add_options, served(tencent_sms.from_options), served=True,
    ),
    "aliyun_sms": FakeCommand(
        "Loopback fake of Aliyun SMS (dysmsapi)",
        aliyun_sms.add_options, served(aliyun_sms.from_options), served=True,
    ),
    "telegram_api": FakeCommand(
        "Loopback fake of the Telegram Bot API",
        telegram_api.add_options, served(telegram_api.from_options), served=True,
    ),
    "wechat_push": FakeCommand(
        "Deliver one WeChat / WeCom callback to a running hub, as the platform does",
        wechat_push.add_options, wechat_push.run,
    ),
}  # fmt: skip


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m channels.fakes", description=__doc__.splitlines()[0]
    )
    names = top.add_subparsers(dest="fake", required=True, metavar="NAME")
    for name, command in FAKES.items():
        sub = names.add_parser(name, help=command.help, description=command.help)
        if command.served:
            sub.add_argument("--host", default="127.0.0.1")
            sub.add_argument("--port", type=int, default=0, help="0 picks a free port")
            sub.add_argument("--latency-ms", type=float, default=0.0, help="wait before answering")
            sub.add_argument("--no-record", action="store_true", help="keep nothing in memory")
        command.add_options(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return asyncio.run(FAKES[args.fake].run(args))
