"""The benchmarks' process helper: a fake started by name, a hub command run, a stop that ends."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hub.devtools.processes import run_hub, start_fake, start_process, stop_all, wait_for_http


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("tencent_sms", ["--secret-id", "AKIDt", "--secret-key", "k", "--error-rate", "0.5"]),
        ("aliyun_sms", ["--access-key-id", "LTAIt", "--access-key-secret", "k", "--no-record"]),
    ],
)
def test_a_fake_started_by_name_serves_its_controls_and_stops_on_sigterm(
    name: str, options: list[str], tmp_path: Path
) -> None:
    fake, url = start_fake(name, *options, "--latency-ms", "5", log=tmp_path / "fake.log")
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/__fake__/received", timeout=10) as answer:
            assert json.loads(answer.read())["received"] == []
    finally:
        stop_all([fake], timeout_s=20)
    assert fake.proc.returncode == 0


def test_a_fake_that_cannot_start_is_an_error_naming_its_log(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"fake\.log"):
        start_fake("tencent_sms", log=tmp_path / "fake.log")  # --secret-id missing


def test_a_failing_hub_command_is_an_error_naming_its_log(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"hub no-such-command failed .*hub\.log"):
        run_hub("no-such-command", log=tmp_path / "hub.log")


def test_stop_all_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    ignoring = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    child = start_process([sys.executable, "-c", ignoring], log=tmp_path / "child.log")
    deadline = time.monotonic() + 10
    while "up" not in (tmp_path / "child.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    began = time.monotonic()
    stop_all([child], timeout_s=0.5)
    assert time.monotonic() - began < 10
    assert child.proc.returncode == -9


def test_waiting_for_a_url_fails_when_a_watched_child_died(tmp_path: Path) -> None:
    child = start_process([sys.executable, "-c", "raise SystemExit(3)"], log=tmp_path / "c.log")
    child.wait(10)
    with pytest.raises(RuntimeError, match="exited"):
        wait_for_http("http://127.0.0.1:9/healthz", timeout_s=10, children=[child])
