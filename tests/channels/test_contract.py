"""The one contract every channel keeps, run over each provider against its loopback fake.

Like aiogram's storage suite: the same tests, parametrized over sandbox, Tencent SMS, Aliyun SMS,
WeChat Official Account, WeCom and Telegram, each over real HTTP (one shared
``aiohttp.ClientSession``; Telegram's aiogram Bot keeps its own, as in production) and real
Redis where the channel keeps state there (sandbox inboxes, WeChat/WeCom access tokens: both
Redis servers). Messages are rendered from the shipped templates, so each channel gets the
params the outbox would give it (``Rendered.message_params``).

The contract:

- class attributes: ``name`` one of the five logical channels, ``provider`` named,
  ``max_batch`` ≥ 1, ``default_qps`` > 0;
- one result per message, in the order given, carrying the message's id and the provider's id.
  Every provider here gives one: Tencent ``SerialNo``, Aliyun ``BizId:number``, WeChat template
  ``msgid``, WeCom ``msgid`` (shared by the recipients of one call), Telegram
  ``chat_id:message_id``, sandbox ``sandbox-<message id>``. (WeChat customer-service text
  answers carry none: ``provider_message_id`` is None there; that path is tested in
  wechat/test_official_account.py.) The fake must hold that very message under that id;
- a recipient the provider refuses fails that message only, with a PermanentError that is not
  a ProviderConfigError (no admin alert for one bad address);
- an outage (5xx, system busy, Redis gone for the sandbox) and an answer later than the
  channel's timeout are RetryableError for every message;
- credentials the provider refuses are ProviderConfigError for every message;
- ``aclose()`` may be called twice.

The sandbox has no provider behind it: it refuses no address, has no credentials and no
timeout, so those three tests run over the five real providers only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from _pytest.mark.structures import ParameterSet
from redis.asyncio import Redis

from channels.base import (
    Channel,
    ChannelError,
    PermanentError,
    ProviderConfigError,
    RetryableError,
    SendResult,
)
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName
from tests.channels.contract_setup import (
    NEEDS_REDIS,
    PROVIDERS,
    ChannelKit,
    ProviderKit,
    open_kit,
)
from tests.redis_fixtures import REDIS_KINDS


def _cases(providers: list[str]) -> list[ParameterSet]:
    """(provider, Redis server) pairs: both servers where the channel uses Redis."""
    cases = []
    for provider in providers:
        if provider in NEEDS_REDIS:
            cases += [pytest.param(provider, kind, id=f"{provider}-{kind}") for kind in REDIS_KINDS]
        else:
            cases.append(pytest.param(provider, "server7", id=provider))
    return cases


every_channel = pytest.mark.parametrize(
    ("provider", "redis_client"), _cases(list(PROVIDERS)), indirect=["redis_client"]
)
every_provider = pytest.mark.parametrize(
    ("provider", "redis_client"),
    _cases([p for p in PROVIDERS if p != "sandbox"]),
    indirect=["redis_client"],
)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """The one HTTP session every HTTP channel shares (docs/design.md, HTTP out)."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def kit(
    provider: str, http: aiohttp.ClientSession, redis_client: Redis, redis_keys: RedisKeys,
    clock: FixedClock,
) -> AsyncIterator[ChannelKit]:  # fmt: skip
    async with open_kit(provider, http=http, redis=redis_client, keys=redis_keys,
                        clock=clock) as opened:  # fmt: skip
        yield opened


@pytest.fixture
def provider_kit(kit: ChannelKit) -> ProviderKit:
    assert isinstance(kit, ProviderKit)
    return kit


@every_channel
def test_class_attributes_describe_the_provider(kit: ChannelKit, provider: str) -> None:
    channel = kit.channel
    assert isinstance(channel, Channel)
    assert channel.name == PROVIDERS[provider]
    assert channel.name in {c.value for c in ChannelName}
    assert channel.provider == provider
    assert isinstance(channel.max_batch, int)
    assert channel.max_batch >= 1
    assert channel.default_qps > 0


@every_channel
async def test_one_message_gets_one_result_with_its_id_and_the_providers_id(
    kit: ChannelKit,
) -> None:
    message = kit.message(1)
    [result] = await kit.channel.send_batch([message])
    assert isinstance(result, SendResult), result
    assert result.message_id == message.message_id
    assert result.provider_message_id
    assert await kit.delivered(message, result)


@every_channel
async def test_a_batch_gets_one_result_per_message_in_the_order_given(kit: ChannelKit) -> None:
    batch = [kit.message(i) for i in (4, 1, 5, 2, 3)]
    assert len(batch) <= kit.channel.max_batch
    results = await kit.channel.send_batch(batch)
    assert len(results) == len(batch)
    for message, result in zip(batch, results, strict=True):
        assert isinstance(result, SendResult), result
        assert result.message_id == message.message_id
        assert await kit.delivered(message, result)
    ids = [r.provider_message_id for r in results if isinstance(r, SendResult)]
    assert len(set(ids)) == len(batch)
    first, second = results[0], results[1]
    assert isinstance(first, SendResult)
    assert isinstance(second, SendResult)
    assert not await kit.delivered(batch[0], second)  # the check tells messages apart


@every_provider
async def test_a_refused_recipient_fails_its_message_only(provider_kit: ProviderKit) -> None:
    kit = provider_kit
    batch = [kit.message(1), kit.refused_message(2), kit.message(3)]
    first, refused, third = await kit.channel.send_batch(batch)
    assert type(refused) is kit.refusal, refused
    assert not isinstance(refused, ProviderConfigError)  # one bad address alerts no admin
    for message, result in ((batch[0], first), (batch[2], third)):
        assert isinstance(result, SendResult), result
        assert result.message_id == message.message_id
        assert await kit.delivered(message, result)


def _all_of(results: list[SendResult | ChannelError], kind: type[ChannelError]) -> bool:
    return bool(results) and all(isinstance(r, kind) for r in results)


@every_channel
async def test_an_outage_is_retryable_for_every_message(kit: ChannelKit) -> None:
    down = await kit.outage()
    batch = [kit.message(i) for i in (1, 2, 3)]
    results = await down.send_batch(batch)
    assert len(results) == len(batch)
    assert _all_of(results, RetryableError), results


@every_provider
async def test_an_answer_later_than_the_timeout_is_retryable(provider_kit: ProviderKit) -> None:
    slow = await provider_kit.slow()
    results = await slow.send_batch([provider_kit.message(1), provider_kit.message(2)])
    assert len(results) == 2
    assert _all_of(results, RetryableError), results


@every_provider
async def test_refused_credentials_are_a_provider_config_error(
    provider_kit: ProviderKit,
) -> None:
    refused = await provider_kit.wrong_credentials()
    results = await refused.send_batch([provider_kit.message(1), provider_kit.message(2)])
    assert len(results) == 2
    assert _all_of(results, ProviderConfigError), results
    assert all(isinstance(r, PermanentError) for r in results)  # never retried as is


@every_channel
async def test_aclose_may_be_called_twice(kit: ChannelKit) -> None:
    [sent] = await kit.channel.send_batch([kit.message(1)])
    assert isinstance(sent, SendResult)
    await kit.channel.aclose()
    await kit.channel.aclose()
