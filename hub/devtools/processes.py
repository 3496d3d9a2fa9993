"""The child processes of ``hub bench``, the benchmarks and the drills: start, wait, stop.

One way for all of them: :func:`start_process` a command with an environment, its stdout and stderr
appended to a log file; :func:`start_fake` a provider fake (``python -m channels.fakes NAME``)
and read the base URL it prints; :func:`run_hub` a ``hub`` command to its end;
:func:`wait_for_http` until a URL (``/healthz``) answers 200; :func:`stop_all`: SIGTERM to
every one still running (a worker finishes its batch and exits), wait, SIGKILL after a timeout.

Blocking calls (``subprocess.Popen``): async callers wrap the waits in ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: ``python -m hub.cli`` needs a __main__; the console script may not be on PATH.
HUB_ENTRY = ("-c", "import sys; from hub.cli import main; sys.exit(main())")
STOP_TIMEOUT_S = 60.0


@dataclass(slots=True)
class Child:
    """A started process and where its output goes (``log`` None: nowhere)."""

    proc: subprocess.Popen[bytes]
    log: Path | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout_s: float | None = None) -> int:
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        """SIGKILL at once (a crash drill's victim) and reap it."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, wait up to ``timeout_s``, then SIGKILL; the exit code."""
        stop_all([self], timeout_s)
        return self.proc.returncode

    def where(self) -> str:
        return f"see {self.log}" if self.log is not None else "no log kept"


def start_process(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, log: Path | None = None,
    cwd: Path | None = None, pipe_stdout: bool = False,
) -> Child:  # fmt: skip
    """Start ``argv`` (stdin closed); stdout (unless piped) and stderr appended to ``log``."""
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(log.open("ab")) if log is not None else subprocess.DEVNULL
        proc = subprocess.Popen(
            list(argv), env=None if env is None else dict(env), cwd=cwd,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if pipe_stdout else out, stderr=out,
        )  # fmt: skip
    return Child(proc, log)


def hub_argv(*args: str) -> list[str]:
    """``hub ARGS...`` run by this interpreter."""
    return [sys.executable, *HUB_ENTRY, *args]


def run_hub(*args: str, env: Mapping[str, str] | None = None, log: Path | None = None,
            cwd: Path | None = None) -> None:  # fmt: skip
    """Run ``hub ARGS...`` to its end; RuntimeError when it fails."""
    child = start_process(hub_argv(*args), env=env, log=log, cwd=cwd)
    if child.wait() != 0:
        raise RuntimeError(f"hub {' '.join(args)} failed ({child.where()})")


def start_fake(
    name: str, *options: str, env: Mapping[str, str] | None = None, log: Path | None = None,
    cwd: Path | None = None, timeout_s: float = 30.0,
) -> tuple[Child, str]:  # fmt: skip
    """Start ``python -m channels.fakes NAME --port 0 OPTIONS...``; the child and its base URL."""
    argv = [sys.executable, "-m", "channels.fakes", name, "--port", "0", *options]
    child = start_process(argv, env=env, log=log, cwd=cwd, pipe_stdout=True)
    stdout = child.proc.stdout
    assert stdout is not None
    ready, _, _ = select.select([stdout], [], [], timeout_s)
    line = stdout.readline() if ready else b""
    if not line.startswith(b"http://"):
        stop_all([child])
        raise RuntimeError(f"the {name} fake did not start ({child.where()})")
    return child, line.decode().strip()


def wait_for_http(url: str, *, timeout_s: float = 60.0, children: Iterable[Child] = ()) -> None:
    """Poll ``url`` until it answers 200; RuntimeError on timeout or when a child has died."""
    deadline = time.monotonic() + timeout_s
    watched = list(children)
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=5) as answer,
        ):
            if answer.status == 200:
                return
        dead = [c for c in watched if not c.running()]
        if dead:
            raise RuntimeError(f"a process exited before {url} answered ({dead[0].where()})")
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout_s:.0f} s")


def stop_all(children: Iterable[Child], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM every child still running, then wait for each; SIGKILL one that outlasts
    ``timeout_s``. Closes a piped stdout."""
    children = list(children)
    for child in children:
        if child.running():
            child.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for child in children:
        try:
            child.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait()
        if child.proc.stdout is not None:
            child.proc.stdout.close()


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without ``HUB_CONFIG`` (a child's ``--config`` rules), plus
    ``extra``."""
    env = {**os.environ, **extra}
    env.pop("HUB_CONFIG", None)
    return env
