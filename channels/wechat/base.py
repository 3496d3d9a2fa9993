"""What the Official Account and WeCom channels share: one app, its token, its calls.

Both channels hold one app's settings (``channels.wechat.apps.<app_name>``), post JSON through
the shared ``aiohttp.ClientSession`` they are given (:func:`channels.wechat.token.call_api`),
at most ``concurrency`` calls in flight, each with the app's access token from the Redis cache
(:class:`channels.wechat.token.AccessTokenCache`): when the provider refuses the token a call
carried, the token is dropped and the call made ONCE more with a fresh one.
:class:`WechatAppChannel` holds that; a channel gives its token request
(:meth:`WechatAppChannel.fetch_token`), its API's name in error texts and its own
request/answer shapes and errcode table.

What both tables end with (:func:`unlisted_errcode`), and what both APIs answer alike:

====================================  ===============================================
answer                                result
====================================  ===============================================
-1 system busy, HTTP ≠ 200, network   RetryableError
anything else                         PermanentError (code kept)
====================================  ===============================================
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, TypeVar

import aiohttp
from yarl import URL

from channels.base import ChannelError, PermanentError, RetryableError
from channels.wechat.settings import WechatAppSettings
from channels.wechat.token import AccessTokenCache, call_api
from hub.core.clock import Clock
from hub.core.keys import RedisKeys
from hub.infra.redis_server import RedisClient

T = TypeVar("T")


def errcode_detail(errcode: int, errmsg: str) -> str:
    """How an error text ends: the errcode and the provider's errmsg, in parentheses."""
    return f"（{errcode} {errmsg}）" if errmsg else f"（{errcode}）"


def unlisted_errcode(api: str, errcode: int, detail: str) -> ChannelError:
    """An errcode the channel's table does not hold: -1 (system busy) is retried, any other
    fails permanently with its code kept; ``api`` names the API in the text."""
    if errcode == -1:
        return RetryableError(f"{api}系统繁忙{detail}", code=str(errcode))
    return PermanentError(f"{api}拒绝了消息{detail}", code=str(errcode))


class WechatAppChannel(ABC):
    """One WeChat or WeCom app as a channel: settings, token cache, concurrency, calls."""

    default_qps: ClassVar[float]
    #: The API as error texts name it ("微信", "企业微信").
    api_name: ClassVar[str]

    def __init__(
        self,
        app_name: str,
        settings: WechatAppSettings,
        session: aiohttp.ClientSession,
        redis: RedisClient,
        keys: RedisKeys,
        clock: Clock,
        *,
        qps: float | None = None,
        concurrency: int = 16,
        timeout_s: float = 10.0,
    ) -> None:
        """``settings`` is ``channels.wechat.apps.<app_name>``; ``qps``, when given, overrides
        its own."""
        self.app_name = app_name
        self.settings = settings
        #: The configured rate; the dispatcher's token bucket holds the provider to it.
        self.qps = qps or settings.qps or self.default_qps
        self._session = session
        self._clock = clock
        self._base = URL(settings.base_url)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._slots = asyncio.Semaphore(concurrency)
        self.tokens = AccessTokenCache(redis, keys, app_name, self.fetch_token, clock)

    @abstractmethod
    async def fetch_token(self) -> tuple[str, int]:
        """``(access_token, expires_in)`` from the provider, or raise the hub's error."""

    async def aclose(self) -> None:  # noqa: B027 (nothing of its own to close)
        """The HTTP session and Redis belong to the runtime, which closes them."""

    async def with_token(
        self,
        send: Callable[[str], Awaitable[T]],
        refused: Callable[[T], bool],
        failed: Callable[[ChannelError], T],
    ) -> T:
        """``send(token)`` in a free slot, again once with a fresh token when ``refused`` says
        the provider refused it; ``failed`` makes the result of an error (no token, Redis)."""
        async with self._slots:
            try:
                return await self.tokens.call_with_token(send, refused)
            except ChannelError as error:
                return failed(error)

    async def post_with_token(
        self, path: str, token: str, payload: Mapping[str, Any]
    ) -> tuple[int, bytes]:
        """``(status, body)`` of a POST to ``path`` under the API base with ``token``."""
        url = self._base.with_path(path).with_query(access_token=token)
        return await self.call("POST", url, payload)

    async def call(
        self, method: str, url: URL, payload: Mapping[str, Any] | None
    ) -> tuple[int, bytes]:
        """``(status, body)`` of one call; a network failure is a RetryableError."""
        return await call_api(
            self._session, method, url, payload, limit=self._timeout, api=self.api_name
        )
