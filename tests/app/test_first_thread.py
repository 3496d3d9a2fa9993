"""The first thread through the whole house, as a user runs it (README "A first thread").

`hub demo` loads the demo registry; `hub run` serves /healthz and dispatches; a message sent
from the CLI goes outbox row → Redis stream → dispatcher → sandbox, and `hub messages list`
shows it sent. `hub run` is a real subprocess; the test stops it with SIGTERM.

The README's thread is run twice more with the shipped quiet hours (21:00–08:00 Shanghai),
the CLI on a fixed clock (``main(clock=...)``): at 22:00 every step says the messages are
held, why, and when they go; at 10:00 they are sent. The fixed times are on today's Shanghai
date, so `hub run` (on the wall clock) never releases the 22:00 ones before the test ends:
they are due at 08:00 tomorrow.

And once as the README deploys it beyond one machine: `hub run` and two `hub worker` processes
sharing only PostgreSQL and the three-master Redis Cluster.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from datetime import time as day_time
from pathlib import Path

import httpx
import pytest

from hub.cli import main
from hub.core.clock import SHANGHAI, FixedClock
from hub.devtools.demo_data import demo_enterprises
from tests.drill_setup import postgres_cluster_setup
from tests.outbound.test_crash_recovery import _workers
from tests.wall_clock import NEVER_QUIET

README_SEND = ["send", "notice", "--audience", "tier=key,industry=制造业",
               "--set", "text=请于本月底前完成年报公示", "--wait", "--timeout", "30"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class HubProcess:
    """`hub run` as a subprocess, waited for until /healthz answers 200."""

    def __init__(self, config: Path, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from hub.cli import main; sys.exit(main())",
             "--config", str(config), "run"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ},
        )  # fmt: skip
        # Generous: on a loaded machine (load 11-15 seen) start-up took longer than 30 s.
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"hub run did not come up:\n{self.stop_and_read()[1]}")
            time.sleep(0.2)

    def stop_and_read(self) -> tuple[int, str]:
        """SIGTERM, wait, and return the exit code and everything the process printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            output, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        return self.process.returncode, output.decode()


@pytest.fixture
def running_hub(write_config: Callable[..., Path]) -> Iterator[tuple[Path, str]]:
    port = free_port()
    config = write_config(web={"port": port}, quiet_hours=NEVER_QUIET)
    assert main(["--config", str(config), "demo", "--enterprises", "40"]) == 0
    hub = HubProcess(config, port)
    try:
        yield config, hub.base
    finally:
        hub.stop_and_read()


def test_sigterm_stops_every_role_and_exits_cleanly(write_config: Callable[..., Path]) -> None:
    port = free_port()
    hub = HubProcess(write_config(web={"port": port}, quiet_hours=NEVER_QUIET), port)
    code, output = hub.stop_and_read()
    assert code == 0, output
    assert "hub stopped" in output


def test_cli_message_goes_through_the_running_hub_and_is_listed_sent(
    running_hub: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, base = running_hub
    health = httpx.get(f"{base}/healthz", timeout=5).json()
    assert health["database"]["status"] == "ok"
    assert health["redis"]["status"] == "ok"

    capsys.readouterr()
    assert main(["--config", str(config), "messages", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []

    code = main(
        [
            "--config",
            str(config),
            "send",
            "notice",
            "--audience",
            "tier=key",
            "--set",
            "text=请于本月底前完成年报公示",
            "--wait",
            "--timeout",
            "30",
            "--json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["created"] >= 1
    assert report["final"]["pending"] == 0

    assert main(["--config", str(config), "messages", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    queued = [m for m in listed if m["status"] != "skipped"]
    assert queued, listed
    assert {m["status"] for m in queued} == {"sent"}
    assert all(m["channel"] == "sandbox" for m in queued)
    assert all(m["created_at"].endswith("+08:00") for m in listed)
    assert len(listed) == report["created"]


def test_metrics_count_what_the_dispatcher_sent(running_hub: tuple[Path, str]) -> None:
    config, base = running_hub
    assert (
        main(
            [
                "--config",
                str(config),
                "send",
                "notice",
                "--audience",
                "tier=key",
                "--set",
                "text=测试",
                "--wait",
                "--timeout",
                "30",
            ]
        )
        == 0
    )
    text = httpx.get(f"{base}/metrics", timeout=5).text
    assert 'hub_send_outcomes_total{channel="sandbox",outcome="sent"}' in text


README_REPLY = "厂房消防验收一直没有批下来，请帮忙催办"


def reply_and_read_the_ack(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict, str]:
    """The README's reply step: a demo contact answers by SMS; the ticket it opens, and the
    text of its acknowledgement in the sandbox inbox (the hub answers at once at any hour).

    The reply takes the wall clock (no ``clock=``): the hub process decides on its own clock
    whether the contact is still waiting, and a reply stamped 22:00 read at 10:00 is not.
    """
    first = next(demo_enterprises(40))
    mobile = first["mobile"]
    capsys.readouterr()
    assert main(["--config", str(config), "sandbox", "reply", mobile, README_REPLY]) == 0
    assert "已收到" in capsys.readouterr().out
    deadline = time.monotonic() + 30
    while True:
        assert main(["--config", str(config), "sandbox", "inbox", mobile, "--json"]) == 0
        inbox = json.loads(capsys.readouterr().out)
        acks = [m for m in inbox if m["kind"] == "ticket_ack"]
        if acks or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert main(["--config", str(config), "tickets", "list", "--json"]) == 0
    tickets = json.loads(capsys.readouterr().out)
    assert len(tickets) == 1, tickets
    assert acks, f"no ticket_ack in the sandbox inbox of the replying contact: {inbox}"
    return tickets[0], acks[0]["body"]


def assert_the_reply_became_an_assigned_ticket(ticket: dict, ack: str) -> None:
    assert ticket["subject"] == README_REPLY
    assert ticket["handler"], "hub demo's staff take the ticket (round-robin)"
    assert ticket["deadline"].endswith("24时前")
    assert f"编号{ticket['number']}" in ack
    assert "办理时限" in ack


def today_in_shanghai_at(hour: int) -> datetime:
    """``hour`` o'clock of the wall clock's date in Shanghai."""
    return datetime.combine(datetime.now(SHANGHAI).date(), day_time(hour), tzinfo=SHANGHAI)


@pytest.fixture
def hub_with_quiet_hours(write_config: Callable[..., Path]) -> Iterator[Path]:
    """`hub run` on the shipped quiet hours (21:00–08:00), with the demo registry."""
    port = free_port()
    config = write_config(web={"port": port})
    assert main(["--config", str(config), "demo", "--enterprises", "40"]) == 0
    hub = HubProcess(config, port)
    try:
        yield config
    finally:
        hub.stop_and_read()


def test_readme_thread_at_22_00_says_held_why_and_when_at_every_step(
    hub_with_quiet_hours: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = hub_with_quiet_hours
    night = today_in_shanghai_at(22)
    release = (night + timedelta(days=1)).replace(hour=8)
    reason = f"免打扰时段（21:00–08:00），将于 {release:%m-%d %H:%M} 发送"
    clock = FixedClock(night)
    capsys.readouterr()

    assert main(["--config", str(config), *README_SEND], clock=clock) == 0
    said = capsys.readouterr().out
    assert main(["--config", str(config), "messages", "list", "--json"], clock=clock) == 0
    messages = json.loads(capsys.readouterr().out)
    n = len(messages)
    assert n >= 1
    assert [(m["status"], m["reason"]) for m in messages] == [("held", reason)] * n
    assert f"暂缓 {n} 条：{reason}" in said
    assert f"最终：已发送 0，免打扰暂缓 {n}（将于 {release:%m-%d %H:%M} 发送），排队 0" in said
    assert "{'held'" not in said  # no Python dict

    assert main(["--config", str(config), "messages", "list"], clock=clock) == 0
    assert capsys.readouterr().out.count(reason) == n  # whole, though stdout is no terminal

    dry_run = [*README_SEND[:-3], "--idempotency-key", "again", "--dry-run", "--json"]
    assert main(["--config", str(config), *dry_run], clock=clock) == 1
    dry = json.loads(capsys.readouterr().out)
    assert dry["reasons"] == [{"status": "skipped", "reason": "24 小时内已向该联系人发送过相同内容",
                               "count": n}]  # fmt: skip
    assert dry["nothing_sent"] == [f"{n} 条跳过：24 小时内已向该联系人发送过相同内容"]

    assert_the_reply_became_an_assigned_ticket(*reply_and_read_the_ack(config, capsys))


def test_readme_thread_in_the_day_is_sent(
    hub_with_quiet_hours: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = hub_with_quiet_hours
    clock = FixedClock(today_in_shanghai_at(10))
    capsys.readouterr()

    assert main(["--config", str(config), *README_SEND], clock=clock) == 0
    said = capsys.readouterr().out
    assert main(["--config", str(config), "messages", "list", "--json"], clock=clock) == 0
    messages = json.loads(capsys.readouterr().out)
    n = len(messages)
    assert n >= 1
    assert [(m["status"], m["reason"]) for m in messages] == [("sent", None)] * n
    assert f"最终：已发送 {n}，免打扰暂缓 0，排队 0" in said

    assert_the_reply_became_an_assigned_ticket(*reply_and_read_the_ack(config, capsys))


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_the_first_thread_runs_on_postgres_and_the_cluster_with_several_workers(
    write_config: Callable[..., Path],
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    setup = postgres_cluster_setup(request)
    config = setup.config(write_config, web={"port": port}, quiet_hours=NEVER_QUIET)
    assert main(["--config", str(config), "demo", "--enterprises", "40"]) == 0
    hub = HubProcess(config, port)
    try:
        with _workers(config, 2):
            health = httpx.get(f"{hub.base}/healthz", timeout=5).json()
            assert health["database"]["status"] == "ok"
            assert health["redis"]["status"] == "ok"
            capsys.readouterr()
            assert main(["--config", str(config), *README_SEND, "--json"]) == 0
            report = json.loads(capsys.readouterr().out)
            assert report["created"] >= 1
            assert report["final"]["pending"] == 0
            assert main(["--config", str(config), "messages", "list", "--json"]) == 0
            listed = json.loads(capsys.readouterr().out)
            assert {m["status"] for m in listed if m["status"] != "skipped"} == {"sent"}
            assert_the_reply_became_an_assigned_ticket(*reply_and_read_the_ack(config, capsys))
    finally:
        hub.stop_and_read()
