"""Did the provider take a message? Tencent ``PullSmsSendStatusByPhoneNumber`` and Aliyun
``QuerySendDetails``, each channel against its loopback fake over real HTTP, one contract.

A message the provider accepted is found (taken, with its receipt when there is one), whether it
went alone or in a batch; one never sent is unknown until the provider's records have settled,
then not taken; a refused query is unknown. The fakes check the signature of every query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from channels.base import (
    OutboundMessage,
    ProbeAnswer,
    SendProbe,
    SendResult,
    Verdict,
    context_ids,
    send_context,
)
from channels.fakes.aliyun_sms import AliyunSmsFake
from channels.fakes.tencent_sms import TencentSmsFake
from channels.sms.aliyun import AliyunSmsChannel
from channels.sms.failover import FailoverSmsChannel
from channels.sms.http_client import HttpClient
from channels.sms.settings import AliyunSmsSettings, TencentSmsSettings
from channels.sms.tencent import MAX_CONTEXT, TencentSmsChannel, plan_requests
from hub.core.clock import FixedClock

SETTLE_S = 30.0


@dataclass
class Provider:
    """A channel wired to its fake, and how to switch the fake's status query off."""

    channel: TencentSmsChannel | AliyunSmsChannel
    refuse_queries: Callable[[], None]
    accepted: Callable[[], int]


def _message(i: int, *, personal: bool = True) -> OutboundMessage:
    values = [f"企业{i}" if personal else "各市场主体", "12月15日"]
    return OutboundMessage(
        message_id=i, address=f"+861380000{i:04d}", body=f"body {i}", kind="policy_push",
        params={"sms_template_id": "1000103", "template_ids": {"aliyun": "SMS_000000103"},
                "sms_params": values, "names": ["company", "date"], "values": values},
    )  # fmt: skip


@pytest.fixture(params=["tencent", "aliyun"])
async def provider(request: pytest.FixtureRequest, clock: FixedClock) -> AsyncIterator[Provider]:
    now: Callable[[], float] = lambda: clock.now().timestamp()  # noqa: E731
    async with HttpClient() as http:
        if request.param == "tencent":
            tencent = TencentSmsFake("AKIDq", "secret-q", sdk_app_id="1400000000", clock=now)
            async with tencent.serve() as url:
                config = TencentSmsSettings(
                    secret_id="AKIDq", secret_key="secret-q", sdk_app_id="1400000000",
                    sign_name="主动服务", endpoint=url, status_settle_seconds=SETTLE_S,
                )  # fmt: skip
                channel: Any = TencentSmsChannel(config, http, clock)

                def refuse() -> None:
                    tencent.switches.status_error = "InternalError"

                yield Provider(channel, refuse, lambda: len(tencent.received))
        else:
            aliyun = AliyunSmsFake("LTAIq", "secret-q", clock=now)
            async with aliyun.serve() as url:
                config_a = AliyunSmsSettings(
                    access_key_id="LTAIq", access_key_secret="secret-q", sign_name="主动服务",
                    endpoint=url, status_settle_seconds=SETTLE_S,
                )  # fmt: skip
                channel = AliyunSmsChannel(config_a, http, clock)

                def refuse_a() -> None:
                    aliyun.switches.status_error = "isp.SYSTEM_ERROR"

                yield Provider(channel, refuse_a, lambda: len(aliyun.received))


async def _ask(provider: Provider, message: OutboundMessage, since: Any) -> ProbeAnswer:
    [answer] = await provider.channel.query_sent([SendProbe(message.message_id,
                                                            message.address, since)])  # fmt: skip
    return answer


async def test_a_message_the_provider_accepted_is_found_taken(
    provider: Provider, clock: FixedClock
) -> None:
    since = clock.now()
    alone, other = _message(1), _message(2)
    [result] = await provider.channel.send_batch([alone])
    assert isinstance(result, SendResult)
    clock.advance(timedelta(seconds=2))

    answer = await _ask(provider, alone, since)
    assert answer.verdict is Verdict.TAKEN
    assert answer.delivered is True  # the fakes report delivery at once by default
    if isinstance(provider.channel, TencentSmsChannel):
        assert answer.provider_message_id == result.provider_message_id  # the SerialNo
    assert (await _ask(provider, other, since)).verdict is Verdict.UNKNOWN  # too early to say


async def test_messages_sent_in_one_batch_request_are_each_found(
    provider: Provider, clock: FixedClock
) -> None:
    since = clock.now()
    batch = [_message(i, personal=False) for i in (11, 12, 13)]
    results = await provider.channel.send_batch(batch)
    assert all(isinstance(r, SendResult) for r in results)
    assert provider.accepted() == 1  # one request for the three
    answers = await provider.channel.query_sent(
        [SendProbe(m.message_id, m.address, since) for m in batch]
    )
    assert [a.verdict for a in answers] == [Verdict.TAKEN] * 3


async def test_a_message_never_sent_is_not_taken_once_the_records_settled(
    provider: Provider, clock: FixedClock
) -> None:
    since = clock.now()
    await provider.channel.send_batch([_message(1)])
    lost = _message(2)
    clock.advance(timedelta(seconds=SETTLE_S - 1))
    assert (await _ask(provider, lost, since)).verdict is Verdict.UNKNOWN
    clock.advance(timedelta(seconds=1))
    answer = await _ask(provider, lost, since)
    assert answer.verdict is Verdict.NOT_TAKEN
    assert answer.provider_message_id is None


async def test_a_refused_status_query_answers_unknown_whatever_the_time(
    provider: Provider, clock: FixedClock
) -> None:
    since = clock.now()
    message = _message(1)
    await provider.channel.send_batch([message])
    provider.refuse_queries()
    clock.advance(timedelta(seconds=SETTLE_S * 10))
    answer = await _ask(provider, message, since)
    assert answer.verdict is Verdict.UNKNOWN
    assert "状态查询失败" in answer.detail


# --- the message ids a request carries (pure) -----------------------------------------------


@pytest.mark.parametrize(
    "ids", [[7], [1, 2, 3], [5, 40, 41, 1_000_000], list(range(10_000, 10_200))]
)
def test_a_requests_message_ids_come_back_from_its_context(ids: list[int]) -> None:
    text = send_context(reversed(ids))
    assert context_ids(text) == frozenset(ids)
    assert send_context([7]) == "7"  # one id reads as itself
    assert context_ids("not ours") == frozenset()


def test_a_tencent_request_whose_context_would_not_fit_is_split() -> None:
    # Ids far apart: each gap takes several characters, so 200 numbers do not fit in 500.
    spread = [_message(i * 999_983, personal=False) for i in range(1, 201)]
    spread = [OutboundMessage(m.message_id, f"+86138{i:08d}", m.body, m.kind, m.params)
              for i, m in enumerate(spread)]  # fmt: skip
    requests, refused = plan_requests(spread, {})
    assert refused == {}
    assert len(requests) > 1
    for request in requests:
        context = send_context(m.message_id for m in request.messages)
        assert len(context.encode()) <= MAX_CONTEXT
    assert sum(len(r.messages) for r in requests) == 200


# --- the failover pair ----------------------------------------------------------------------


class _Answering:
    """A provider whose status query answers one verdict for everything."""

    name = "sms"
    max_batch = 100
    default_qps = 50.0
    status_settle_seconds = 5.0

    def __init__(self, provider: str, verdict: Verdict) -> None:
        self.provider = provider
        self.verdict = verdict
        self.asked: list[int] = []

    async def send_batch(self, messages: Any) -> list[Any]:
        raise AssertionError("not sent here")

    async def query_sent(self, probes: Any) -> list[ProbeAnswer]:
        self.asked.extend(p.message_id for p in probes)
        return [ProbeAnswer(p.message_id, self.verdict, detail=self.provider) for p in probes]

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize(
    ("primary", "secondary", "expected", "second_asked"),
    [
        (Verdict.TAKEN, Verdict.NOT_TAKEN, Verdict.TAKEN, False),
        (Verdict.NOT_TAKEN, Verdict.TAKEN, Verdict.TAKEN, True),
        (Verdict.NOT_TAKEN, Verdict.NOT_TAKEN, Verdict.NOT_TAKEN, True),
        (Verdict.UNKNOWN, Verdict.NOT_TAKEN, Verdict.UNKNOWN, True),
        (Verdict.NOT_TAKEN, Verdict.UNKNOWN, Verdict.UNKNOWN, True),
    ],
)
async def test_the_failover_pair_resends_only_what_neither_provider_took(
    primary: Verdict, secondary: Verdict, expected: Verdict, second_asked: bool, clock: FixedClock
) -> None:
    first, second = _Answering("tencent", primary), _Answering("aliyun", secondary)
    pair = FailoverSmsChannel(first, second)  # type: ignore[arg-type]
    [answer] = await pair.query_sent([SendProbe(1, "+8613800000001", clock.now())])
    assert answer.verdict is expected
    assert bool(second.asked) is second_asked
    assert pair.status_settle_seconds == 5.0
