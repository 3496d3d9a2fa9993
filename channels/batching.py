"""Provider requests that each carry several messages, and their answers put back in order.

Shared by the channels that group a batch into requests (the SMS providers, WeCom).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol, TypeVar

from channels.base import ChannelError, SendResult

Result = SendResult | ChannelError


class PlannedRequest(Protocol):
    """A provider request; ``positions`` are its messages' places in the batch, in order."""

    @property
    def positions(self) -> Sequence[int]: ...


R = TypeVar("R", bound=PlannedRequest)


async def send_planned(
    count: int,
    refused: Mapping[int, ChannelError],
    requests: Sequence[R],
    send_all: Callable[[Sequence[R]], Awaitable[Sequence[list[Result]]]],
) -> list[Result]:
    """Send every request at once (``send_all``: one list of results per request, in order);
    one result per message of the batch, in batch order (``refused`` holds the messages no
    request could carry)."""
    results: list[Result | None] = [None] * count
    for position, error in refused.items():
        results[position] = error
    answers = await send_all(requests) if requests else []
    for request, answer in zip(requests, answers, strict=True):
        for position, result in zip(request.positions, answer, strict=True):
            results[position] = result
    return [r for r in results if r is not None]


async def each_concurrently(
    send: Callable[[R], Awaitable[list[Result]]], requests: Sequence[R]
) -> list[list[Result]]:
    """``send_all`` for a channel whose requests go one call each: all of them concurrently."""
    return list(await asyncio.gather(*(send(r) for r in requests)))
