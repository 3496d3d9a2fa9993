"""What the two SMS providers share; each provider module keeps only its wire format.

A provider (:mod:`channels.sms.tencent`, :mod:`channels.sms.aliyun`) subclasses
:class:`SmsChannel` and gives what only it knows: how a batch is planned into requests (its
group key, through :func:`plan_groups`, and the :class:`OpenRequest` that says what one request
may carry), how a request is signed (:meth:`SmsChannel.sign`) and its answer read
(:meth:`SmsChannel.read`, through the provider's error-code table), and its status query
(:meth:`SmsChannel.status_query`, a :class:`StatusQuery`).

Here, once for both: the class facts and the constructor; the send loop (every request
at once, the answers put back in batch order by :func:`channels.batching.send_planned`);
one signed POST, a network failure mapped to :class:`~channels.base.RetryableError`; the status
query's loop (pages of a number's records per probe, a failed query answering UNKNOWN); and the
settle rule (:func:`absent_answer`): a message a provider still does not list ``settle_s`` after
its send was never taken.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, Final, Generic, Protocol, TypeVar

from yarl import URL

from channels.base import (
    ChannelError,
    OutboundMessage,
    ProbeAnswer,
    ProviderConfigError,
    RetryableError,
    SendProbe,
    Verdict,
)
from channels.batching import Result, send_planned
from channels.sms.http_client import Build, HttpClient, HttpError, HttpResponse
from hub.core.clock import Clock

Signed = tuple[Mapping[str, str], bytes]
#: Message kind -> approved template id, for a channel whose templates declare none.
NO_TEMPLATE_IDS: Final[Mapping[str, str]] = MappingProxyType({})

K = TypeVar("K")
PageT = TypeVar("PageT")
RecordT = TypeVar("RecordT")


class SmsSettings(Protocol):
    """What the base reads of a provider's config section."""

    @property
    def endpoint(self) -> str: ...

    @property
    def qps(self) -> float: ...

    @property
    def status_settle_seconds(self) -> float | None: ...


class PlannedSms(Protocol):
    """A provider request: its messages, and their places in the batch (``positions``)."""

    @property
    def messages(self) -> Sequence[OutboundMessage]: ...

    @property
    def positions(self) -> Sequence[int]: ...


SettingsT = TypeVar("SettingsT", bound=SmsSettings)
RequestT = TypeVar("RequestT", bound=PlannedSms)


# --- planning ---------------------------------------------------------------------------------


class OpenRequest:
    """A request being filled: at most ``max_numbers`` numbers, each once, so every status or
    report a provider gives for a number maps back to exactly one message."""

    def __init__(self, max_numbers: int) -> None:
        self.max_numbers = max_numbers
        self.positions: list[int] = []
        self.numbers: set[str] = set()

    def takes(self, number: str, message: OutboundMessage) -> bool:
        """Whether ``message`` to ``number`` fits; a provider narrows this further."""
        return len(self.positions) < self.max_numbers and number not in self.numbers

    def add(self, position: int, number: str, message: OutboundMessage) -> None:
        self.positions.append(position)
        self.numbers.add(number)


def plan_groups(
    messages: Sequence[OutboundMessage],
    key_of: Callable[[OutboundMessage], K],
    number_of: Callable[[str], str],
    open_request: Callable[[], OpenRequest],
) -> tuple[list[tuple[K, list[int]]], dict[int, ChannelError]]:
    """Messages of one key share a request until it takes no more; then another opens.

    ``key_of`` is what must be the same within a request (template and parameters); it raises
    :class:`~channels.base.ChannelError` for a message no request can carry, which is refused
    by position. Returns each request's key and positions, in the order they closed.
    """
    refused: dict[int, ChannelError] = {}
    open_requests: dict[K, OpenRequest] = {}
    closed: list[tuple[K, list[int]]] = []
    for position, message in enumerate(messages):
        try:
            key = key_of(message)
        except ChannelError as error:
            refused[position] = error
            continue
        number = number_of(message.address)
        request = open_requests.get(key)
        if request is not None and not request.takes(number, message):
            closed.append((key, request.positions))
            request = None
        if request is None:
            request = open_requests[key] = open_request()
        request.add(position, number, message)
    closed.extend((key, request.positions) for key, request in open_requests.items())
    return closed, refused


# --- status queries ---------------------------------------------------------------------------


class StatusQuery(Protocol[PageT, RecordT]):
    """One provider's status query, pure: the pages to read, each signed and read.

    ``pages`` are runs of pages: a run stops at the first page that says there is no more
    (Tencent: one run of offsets; Aliyun: one run of pages per day since the send).
    """

    def pages(self, probe: SendProbe, now: datetime) -> Iterable[Iterable[PageT]]: ...

    def request(self, probe: SendProbe, page: PageT, now: datetime) -> Signed: ...

    def read(
        self, status: int, body: bytes, page: PageT, now: datetime
    ) -> tuple[Sequence[RecordT], bool]:
        """The page's records and whether another page follows; raises ChannelError."""
        ...

    def answer(
        self, probe: SendProbe, records: Sequence[RecordT], now: datetime, settle_s: float
    ) -> ProbeAnswer: ...


def absent_answer(
    probe: SendProbe, now: datetime, settle_s: float, *, provider: str, pending: str
) -> ProbeAnswer:
    """The answer for a probe whose message the provider does not list: never taken once
    ``settle_s`` passed since the send, unknown before (``pending`` says what is awaited)."""
    waited = (now - probe.since).total_seconds()
    if waited >= settle_s:
        detail = f"发送 {waited:.0f} 秒后{provider}仍无该号码的此条记录"
        return ProbeAnswer(probe.message_id, Verdict.NOT_TAKEN, detail=detail)
    detail = f"{provider}{pending}（发送后 {waited:.0f} 秒）"
    return ProbeAnswer(probe.message_id, Verdict.UNKNOWN, detail=detail)


# --- the channel ------------------------------------------------------------------------------


def random_nonce() -> str:
    """A request nonce no other request has (Aliyun's ``SignatureNonce``)."""
    return uuid.uuid4().hex


class SmsChannel(ABC, Generic[SettingsT, RequestT]):
    """The ``sms`` channel through one provider; posts through an HTTP client it does not own."""

    name: ClassVar[str] = "sms"
    provider: ClassVar[str]
    max_batch: ClassVar[int]
    default_qps: ClassVar[float] = 50.0
    #: How long after a send the provider's status query may still not list it.
    default_status_settle_seconds: ClassVar[float]
    #: The provider as error texts name it ("腾讯云短信").
    label: ClassVar[str]

    def __init__(
        self,
        settings: SettingsT,
        http: HttpClient,
        clock: Clock,
        *,
        template_ids: Mapping[str, str] = NO_TEMPLATE_IDS,
        qps: float | None = None,
        timeout_s: float = 10.0,
        nonce: Callable[[], str] = random_nonce,
    ) -> None:
        """``settings`` is the provider's ``channels.sms.<provider>``; ``qps``, when given,
        overrides its own. ``nonce`` makes a fresh nonce per signed request (Aliyun's)."""
        self.settings = settings
        #: Message kind -> the approved template id (Aliyun: template code) its ``meta.yaml``
        #: declares, filled by the channel setup.
        self.template_ids = template_ids
        #: The configured rate; the dispatcher's token bucket holds the provider to it.
        self.qps = qps or settings.qps or self.default_qps
        settle = settings.status_settle_seconds
        #: How long after a send the status query may still not list it.
        self.status_settle_seconds: float = (
            self.default_status_settle_seconds if settle is None else settle
        )
        self._http = http
        self._clock = clock
        self._nonce = nonce
        self._url = str(URL(settings.endpoint).with_path("/"))
        self._timeout_s = timeout_s

    # --- what a provider gives ---

    @abstractmethod
    def plan(
        self, messages: Sequence[OutboundMessage]
    ) -> tuple[list[RequestT], dict[int, ChannelError]]:
        """The requests a batch goes out in, and the messages refused before sending."""

    @abstractmethod
    def sign(self, request: RequestT) -> Signed:
        """Headers and body of ``request``, signed now (by the injected clock)."""

    @abstractmethod
    def read(self, request: RequestT, status: int, body: bytes) -> list[Result]:
        """One result per message of ``request``, from the provider's answer."""

    @abstractmethod
    def network_error(self, exc: Exception) -> str:
        """What a clerk reads when the provider could not be reached."""

    @abstractmethod
    def status_query(self) -> StatusQuery[Any, Any]:
        """The provider's status query, for :meth:`query_sent`."""

    # --- shared ---

    async def send_batch(self, messages: Sequence[OutboundMessage]) -> list[Result]:
        requests, refused = self.plan(messages)
        return await send_planned(len(messages), refused, requests, self.send_requests)

    async def send_requests(self, requests: Sequence[RequestT]) -> list[list[Result]]:
        """Every request posted at once, each signed when its connection is free, and its
        answer read: one list of results per request. A network failure fails every message
        of its request (retryable); a request that cannot be built is refused as our side's
        configuration."""
        builds = [functools.partial(self.sign, request) for request in requests]
        answers = await self._http.post_many(self._url, builds, timeout_s=self._timeout_s)
        return [self._results(r, a) for r, a in zip(requests, answers, strict=True)]

    def _results(self, request: RequestT, answer: HttpResponse | Exception) -> list[Result]:
        if isinstance(answer, HttpResponse):
            return self.read(request, answer.status, answer.body)
        error: ChannelError
        if isinstance(answer, HttpError | TimeoutError):
            error = RetryableError(self.network_error(answer), code="Network")
        else:
            error = ProviderConfigError(f"{self.label}请求无法生成：{answer}", code="request")
        error.__cause__ = answer
        return [error] * len(request.messages)

    async def query_sent(self, probes: Sequence[SendProbe]) -> list[ProbeAnswer]:
        """Whether the provider took each probed message, asked concurrently; a failed query
        answers UNKNOWN."""
        query = self.status_query()
        return list(await asyncio.gather(*(self._probe(query, p) for p in probes)))

    async def aclose(self) -> None:
        """The HTTP client belongs to the runtime, which closes it."""

    async def _probe(self, query: StatusQuery[PageT, RecordT], probe: SendProbe) -> ProbeAnswer:
        records: list[RecordT] = []
        try:
            for run in query.pages(probe, self._clock.now()):
                for page in run:

                    def sign(page: PageT = page) -> Signed:
                        return query.request(probe, page, self._clock.now())

                    response = await self._post(sign)
                    found, more = query.read(
                        response.status, response.body, page, self._clock.now()
                    )
                    records.extend(found)
                    if not more:
                        break
        except (HttpError, TimeoutError, ChannelError) as exc:
            detail = f"{self.label}状态查询失败：{type(exc).__name__} {exc}"
            return ProbeAnswer(probe.message_id, Verdict.UNKNOWN, detail=detail)
        return query.answer(probe, records, self._clock.now(), self.status_settle_seconds)

    async def _post(self, sign: Build) -> HttpResponse:
        return await self._http.post_built(self._url, sign, timeout_s=self._timeout_s)
