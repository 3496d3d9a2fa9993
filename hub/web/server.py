"""The web role's uvicorn server, without signal handling of its own.

Imported only by processes that serve HTTP: uvicorn, FastAPI and Starlette cost a worker
process ~40 MB it has no use for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn


class HubServer(uvicorn.Server):
    """uvicorn without signal handling of its own.

    uvicorn re-raises a captured SIGTERM once it has served, which would kill the process
    before the dispatcher finishes its batch and the connections close; the hub's own
    handlers stop every role together instead.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def web_server(app: Any, *, host: str, port: int, log_level: str) -> HubServer:
    """A server for ``app``; access lines are off (they would print the SMS webhooks' secrets).

    HTTP is parsed by httptools (C), not h11 (pure Python), which cost each webhook request
    ~0.2 ms of CPU (docs/performance.md, "Inbound webhooks").
    """
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, lifespan="off", access_log=False,
        http="httptools",
    )  # fmt: skip
    return HubServer(config)
