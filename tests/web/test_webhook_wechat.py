"""/webhooks/wechat/{app}: the fake WeChat / WeCom servers call the real route (ASGI, no socket).

Verified callbacks are stored once and linked; forged, replayed, misaddressed or malformed ones
get 401/403/400 and store nothing. Real SQLite, real Redis (both servers), injected clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from redis.asyncio import Redis

from channels.fakes.wechat_push import CallbackRequest, WechatPush
from channels.wechat.crypto import WechatCrypto, build_xml, sign
from hub.app.config import Settings, load_settings
from hub.core.clock import FixedClock
from hub.core.errors import ConfigError
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.infra.queue import Queue
from hub.store.db import Database
from hub.store.models import AuditLog, Contact, ContactOptOut, InboundReply, Message
from hub.web.webhooks.context import WebhookContext
from hub.web.webhooks.wechat import router
from tests.seed import seed_registry

OA_TOKEN, OA_APPID = "oa-token-1", "wx2c2769f8efd9abc2"
OA_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
WC_TOKEN, WC_CORP, WC_AGENT = "QDG6eK", "ww5823bf96d3bd56c7", "1000002"
WC_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"  # the contact of 甲机械 (+8613900000001)
USERID = "zhangsan"  # the first contact of 乙商贸 (+8613900000002)
OA_URL, WC_URL = "/webhooks/wechat/main", "/webhooks/wechat/work"


SECRETS = {"OA_SECRET": "s1", "OA_TOKEN": OA_TOKEN, "OA_KEY": OA_KEY,
           "WC_SECRET": "s2", "WC_TOKEN": WC_TOKEN, "WC_KEY": WC_KEY}  # fmt: skip


WECOM_APP = {"enabled": True, "kind": "wecom", "corp_id": WC_CORP, "agent_id": WC_AGENT,
             "secret": "${WC_SECRET}", "token": "${WC_TOKEN}",
             "encoding_aes_key": "${WC_KEY}"}  # fmt: skip


@pytest.fixture
def settings(write_config: Callable[..., Path]) -> Settings:
    apps: dict[str, Any] = {
        "main": {"enabled": True, "kind": "official_account", "app_id": OA_APPID,
                 "secret": "${OA_SECRET}", "token": "${OA_TOKEN}",
                 "encoding_aes_key": "${OA_KEY}"},
        "work": WECOM_APP,
        "spare": {"enabled": False, "kind": "official_account", "app_id": "wxspare",
                  "token": "${OA_TOKEN}", "encoding_aes_key": "${OA_KEY}"},
    }  # fmt: skip
    path = write_config(channels={"wechat": {"apps": apps, "replay_window_seconds": 300}})
    return load_settings(path, env=SECRETS)


@dataclass
class Hub:
    client: httpx.AsyncClient
    db: Database
    redis: Redis
    keys: RedisKeys
    queue: Queue
    clock: FixedClock
    enterprises: dict[str, int]

    def oa(self, **overrides: Any) -> WechatPush:
        config: dict[str, Any] = {"token": OA_TOKEN, "app_id": OA_APPID,
                                  "encoding_aes_key": OA_KEY, "clock": self.clock}  # fmt: skip
        return WechatPush.official_account(**(config | overrides))

    def wecom(self, **overrides: Any) -> WechatPush:
        config: dict[str, Any] = {"token": WC_TOKEN, "corp_id": WC_CORP, "agent_id": WC_AGENT,
                                  "encoding_aes_key": WC_KEY, "clock": self.clock}  # fmt: skip
        return WechatPush.wecom(**(config | overrides))

    async def send(self, push: WechatPush, request: CallbackRequest, url: str) -> httpx.Response:
        return await push.send(request, url, client=self.client)

    async def replies(self) -> list[InboundReply]:
        async with self.db.read() as session:
            return list((await session.scalars(sa.select(InboundReply))).all())

    async def opt_outs(self) -> list[ContactOptOut]:
        async with self.db.read() as session:
            return list((await session.scalars(sa.select(ContactOptOut))).all())

    async def contact_id(self, mobile: str) -> int:
        async with self.db.read() as session:
            found = await session.scalar(sa.select(Contact.id).where(Contact.mobile == mobile))
        assert found is not None
        return int(found)


@pytest.fixture
async def hub(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
    settings: Settings,
) -> AsyncIterator[Hub]:  # fmt: skip
    enterprises = await seed_registry(db)
    async with db.write() as session:
        await session.execute(sa.update(Contact).where(Contact.mobile == "+8613900000001")
                              .values(wechat_openid=OPENID))  # fmt: skip
        await session.execute(sa.update(Contact).where(Contact.mobile == "+8613900000002")
                              .values(wecom_userid=USERID))  # fmt: skip
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups([])
    app = FastAPI()
    app.include_router(router(WebhookContext(settings, db, redis_client, redis_keys, queue, clock)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        yield Hub(client, db, redis_client, redis_keys, queue, clock, enterprises)


# --- URL verification --------------------------------------------------------------------------


async def test_official_account_verification_echoes_echostr(hub: Hub) -> None:
    push = hub.oa()
    response = await hub.send(push, push.verify("8730495829347"), OA_URL)
    assert response.status_code == 200
    assert response.text == "8730495829347"
    assert response.headers["content-type"].startswith("text/plain")


async def test_wecom_verification_echoes_the_decrypted_echostr(hub: Hub) -> None:
    push = hub.wecom()
    request = push.verify("1616140317555161061")
    assert request.params["echostr"] != "1616140317555161061"  # it travels encrypted
    response = await hub.send(push, request, WC_URL)
    assert response.status_code == 200
    assert response.text == "1616140317555161061"


@pytest.mark.parametrize("kind", ["oa", "wecom"])
async def test_verification_with_a_forged_signature_is_401(hub: Hub, kind: str) -> None:
    push = hub.oa(token="guessed") if kind == "oa" else hub.wecom(token="guessed")
    response = await hub.send(push, push.verify("123"), OA_URL if kind == "oa" else WC_URL)
    assert response.status_code == 401
    assert "123" not in response.text


# --- messages ----------------------------------------------------------------------------------


async def test_a_text_reply_is_stored_once_linked_to_its_contact(hub: Hub) -> None:
    push = hub.oa()
    request = push.text(OPENID, "5", msg_id=6054768590064713728)
    first = await hub.send(push, request, OA_URL)
    again = await hub.send(push, request, OA_URL)  # WeChat's retry of the same message

    assert (first.status_code, first.text) == (200, "success")
    assert (again.status_code, again.text) == (200, "success")
    [reply] = await hub.replies()
    assert (reply.channel, reply.provider) == (ChannelName.WECHAT, "wechat_mp")
    assert (reply.provider_msg_id, reply.sender, reply.text) == ("6054768590064713728", OPENID, "5")
    assert reply.contact_id == await hub.contact_id("+8613900000001")
    assert reply.enterprise_id == hub.enterprises["甲机械"]
    assert reply.raw["hub_app"] == "main"
    assert [e.reply_id for e in await hub.queue.claim_inbound("w", 10, None)] == [reply.id]


async def test_a_plain_mode_text_reply_is_stored(hub: Hub) -> None:
    push = hub.oa(safe_mode=False)
    request = push.text(OPENID, "查询进度 GD2026001")
    assert "encrypt_type" not in request.params
    response = await hub.send(push, request, OA_URL)
    assert response.status_code == 200
    [reply] = await hub.replies()
    assert reply.text == "查询进度 GD2026001"
    assert reply.enterprise_id == hub.enterprises["甲机械"]


async def test_a_voice_reply_is_stored_as_a_media_reference(hub: Hub) -> None:
    push = hub.oa()
    response = await hub.send(push, push.voice(OPENID, "MEDIA123", recognition="满意"), OA_URL)
    assert response.status_code == 200
    [reply] = await hub.replies()
    assert reply.text == "[语音] MediaId=MEDIA123 识别：满意"
    assert reply.raw["Format"] == "amr"


async def test_a_wecom_text_reply_is_stored_on_the_wecom_channel(hub: Hub) -> None:
    push = hub.wecom()
    response = await hub.send(push, push.text(USERID, "4"), WC_URL)
    assert (response.status_code, response.text) == (200, "success")
    [reply] = await hub.replies()
    assert (reply.channel, reply.provider, reply.text) == (ChannelName.WECOM, "wecom", "4")
    assert reply.contact_id == await hub.contact_id("+8613900000002")
    assert reply.enterprise_id == hub.enterprises["乙商贸"]


async def test_a_wecom_card_button_is_stored_once_with_its_key_as_text(hub: Hub) -> None:
    push = hub.wecom()
    request = push.template_card_click(USERID, "rate-T42", "rating:5")
    outcomes = [await hub.send(push, request, WC_URL) for _ in range(2)]
    assert [r.status_code for r in outcomes] == [200, 200]
    [reply] = await hub.replies()
    assert reply.text == "rating:5"
    assert reply.provider_msg_id == f"card:rate-T42:{USERID}:rating:5"
    assert reply.raw["TaskId"] == "rate-T42"
    assert reply.raw["CardType"] == "button_interaction"
    assert reply.enterprise_id == hub.enterprises["乙商贸"]


# --- refusals: nothing stored ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "mode"), [("oa", "safe"), ("oa", "plain"), ("wecom", "safe")]
)  # fmt: skip
async def test_a_forged_signature_is_401_and_stores_nothing(hub: Hub, kind: str, mode: str) -> None:
    if kind == "oa":
        push, url = hub.oa(token="guessed", safe_mode=mode == "safe"), OA_URL
    else:
        push, url = hub.wecom(token="guessed"), WC_URL
    response = await hub.send(push, push.text(OPENID if kind == "oa" else USERID, "1"), url)
    assert response.status_code == 401
    assert await hub.replies() == []


async def test_an_altered_body_is_401_and_stores_nothing(hub: Hub) -> None:
    push = hub.oa()
    genuine = push.text(OPENID, "5")
    other = push.text(OPENID, "1")  # sealed right, but signed with other nonce/timestamp
    forged = dataclasses.replace(genuine, body=other.body)
    response = await hub.send(push, forged, OA_URL)
    assert response.status_code == 401
    assert await hub.replies() == []


async def test_a_replayed_request_is_403_and_stores_nothing(hub: Hub) -> None:
    push = hub.oa()
    captured = push.text(OPENID, "5")
    hub.clock.advance(timedelta(seconds=301))  # the window is 300 s
    response = await hub.send(push, captured, OA_URL)
    assert response.status_code == 403
    assert await hub.replies() == []


async def test_a_timestamp_from_the_future_is_403(hub: Hub) -> None:
    ahead = FixedClock(hub.clock.now() + timedelta(minutes=10))
    push = hub.wecom(clock=ahead)
    response = await hub.send(push, push.text(USERID, "5"), WC_URL)
    assert response.status_code == 403
    assert await hub.replies() == []


async def test_a_message_sealed_for_another_appid_is_403(hub: Hub) -> None:
    push = hub.oa(app_id="wxanotherapp00001")  # our token and key, another account's trailer
    response = await hub.send(push, push.text(OPENID, "5"), OA_URL)
    assert response.status_code == 403
    assert await hub.replies() == []


async def test_a_message_for_another_wecom_agent_is_403(hub: Hub) -> None:
    push = hub.wecom(agent_id="1000099")
    response = await hub.send(push, push.text(USERID, "5"), WC_URL)
    assert response.status_code == 403
    assert await hub.replies() == []


async def test_malformed_xml_is_400_and_stores_nothing(hub: Hub) -> None:
    push = hub.oa(safe_mode=False)
    request = dataclasses.replace(push.text(OPENID, "5"), body=b"<xml><Content>5</Cont")
    response = await hub.send(push, request, OA_URL)
    assert response.status_code == 400
    assert await hub.replies() == []


@pytest.mark.parametrize("url", ["/webhooks/wechat/nosuch", "/webhooks/wechat/spare"])
async def test_an_unknown_or_disabled_app_is_404(hub: Hub, url: str) -> None:
    push = hub.oa()
    assert (await hub.send(push, push.verify("1"), url)).status_code == 404
    assert (await hub.send(push, push.text(OPENID, "5"), url)).status_code == 404
    assert await hub.replies() == []


# --- events ------------------------------------------------------------------------------------


async def test_unsubscribe_records_an_opt_out_and_subscribe_lifts_it(hub: Hub) -> None:
    push = hub.oa()
    contact = await hub.contact_id("+8613900000001")
    left = push.unsubscribe(OPENID)
    assert (await hub.send(push, left, OA_URL)).text == "success"
    [opt_out] = await hub.opt_outs()
    assert (opt_out.contact_id, opt_out.channel) == (contact, ChannelName.WECHAT)
    assert opt_out.source == "wechat_unsubscribe"

    hub.clock.advance(timedelta(seconds=30))
    assert (await hub.send(push, push.subscribe(OPENID), OA_URL)).text == "success"
    assert await hub.opt_outs() == []
    async with hub.db.read() as session:
        [audit] = (await session.scalars(sa.select(AuditLog))).all()
    assert (audit.action, audit.target_id) == ("opt_out_lifted", str(contact))

    # WeChat's late retry of the unsubscribe is the same event: it must not apply again.
    assert (await hub.send(push, left, OA_URL)).text == "success"
    assert await hub.opt_outs() == []
    assert await hub.replies() == []  # events are not replies


async def test_subscribe_keeps_an_opt_out_the_user_asked_for(hub: Hub) -> None:
    contact = await hub.contact_id("+8613900000001")
    async with hub.db.write() as session:
        session.add(ContactOptOut(contact_id=contact, channel=ChannelName.WECHAT, kind="*",
                                  at=hub.clock.now(), source="reply"))  # fmt: skip
    push = hub.oa()
    assert (await hub.send(push, push.subscribe(OPENID), OA_URL)).status_code == 200
    [kept] = await hub.opt_outs()
    assert kept.source == "reply"


async def add_sent_message(hub: Hub, provider_message_id: str) -> int:
    now = hub.clock.now()
    contact = await hub.contact_id("+8613900000001")
    async with hub.db.write() as session:
        message = Message(
            idempotency_key=f"test-{provider_message_id}", kind=MessageKind.NOTICE,
            enterprise_id=hub.enterprises["甲机械"], contact_id=contact,
            channel=ChannelName.WECHAT, address=OPENID, status=MessageStatus.SENT, body="通知",
            params={}, attempts=1, provider_message_id=provider_message_id, sent_at=now,
            created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(message)
        await session.flush()
        return message.id


async def message_status(hub: Hub, message_id: int) -> tuple[MessageStatus, str | None]:
    async with hub.db.read() as session:
        message = await session.get(Message, message_id)
    assert message is not None
    return message.status, message.status_reason


async def test_template_send_job_finish_marks_the_message_delivered(hub: Hub) -> None:
    message_id = await add_sent_message(hub, "200163836")
    push = hub.oa()
    request = push.template_send_job_finish(OPENID, 200163836)
    assert (await hub.send(push, request, OA_URL)).text == "success"
    assert (await hub.send(push, request, OA_URL)).text == "success"  # redelivery
    assert (await message_status(hub, message_id))[0] == MessageStatus.DELIVERED
    assert await hub.replies() == []


async def test_a_user_block_receipt_fails_the_message_and_opts_the_user_out(hub: Hub) -> None:
    message_id = await add_sent_message(hub, "200163840")
    push = hub.oa()
    request = push.template_send_job_finish(OPENID, 200163840, status="failed:user block")
    assert (await hub.send(push, request, OA_URL)).status_code == 200
    status, reason = await message_status(hub, message_id)
    assert status == MessageStatus.FAILED
    assert reason == "回执失败 failed:user block 用户拒收 (user block)"
    [opt_out] = await hub.opt_outs()
    assert (opt_out.channel, opt_out.source) == (ChannelName.WECHAT, "wechat_user_block")


async def test_a_receipt_that_outruns_its_send_is_parked(hub: Hub) -> None:
    push = hub.oa()
    request = push.template_send_job_finish(OPENID, 999000111)
    assert (await hub.send(push, request, OA_URL)).status_code == 200
    parked = await hub.redis.zrange(hub.keys.parked_receipts(), 0, -1)
    assert len(parked) == 1
    assert "999000111" in parked[0]


async def test_the_fake_delivers_once_when_the_hub_answers_success(hub: Hub) -> None:
    push = hub.oa()
    outcomes = await push.deliver(push.text(OPENID, "3"), OA_URL, client=hub.client)
    assert [o.status_code for o in outcomes if isinstance(o, httpx.Response)] == [200]
    assert len(await hub.replies()) == 1


def test_a_malformed_encoding_aes_key_fails_at_start_naming_the_key(
    write_config: Callable[..., Path],
) -> None:
    path = write_config(channels={"wechat": {"apps": {"work": WECOM_APP}}})
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={**SECRETS, "WC_KEY": "too-short"})
    assert caught.value.key == "channels.wechat.apps.work.encoding_aes_key"


# --- hostile input: 4xx, nothing stored --------------------------------------------------------


def nested(depth: int) -> bytes:
    return b"<xml>" + b"<a>" * depth + b"x" + b"</a>" * depth + b"</xml>"


def sealed_request(hub: Hub, message: bytes) -> CallbackRequest:
    """A WeCom callback, correctly encrypted and signed, carrying ``message`` as is."""
    crypto = WechatCrypto(WC_TOKEN, WC_KEY, WC_CORP)
    timestamp, nonce = str(int(hub.clock.now().timestamp())), "1234567890"
    sealed = crypto.seal(message)
    params = {"msg_signature": sign(WC_TOKEN, timestamp, nonce, sealed), "timestamp": timestamp,
              "nonce": nonce}  # fmt: skip
    body = build_xml({"ToUserName": WC_CORP, "AgentID": WC_AGENT, "Encrypt": sealed}).encode()
    return CallbackRequest("POST", params, body)


async def seen_keys(hub: Hub) -> list[str]:
    return [key async for key in hub.redis.scan_iter(match=f"{hub.keys.prefix}:seen:*")]


@pytest.mark.parametrize("mode", ["oa-safe", "oa-plain", "wecom"])
async def test_xml_nested_8000_deep_is_400_and_stores_nothing(hub: Hub, mode: str) -> None:
    # Safe mode parses the envelope before the signature (over its Encrypt) can be checked.
    push = hub.wecom() if mode == "wecom" else hub.oa(safe_mode=mode == "oa-safe")
    genuine = push.text(USERID if mode == "wecom" else OPENID, "5")
    response = await hub.send(push, dataclasses.replace(genuine, body=nested(8000)),
                              WC_URL if mode == "wecom" else OA_URL)  # fmt: skip
    assert response.status_code == 400
    assert await hub.replies() == []


async def test_a_signed_message_nested_2000_deep_is_400_and_stores_nothing(hub: Hub) -> None:
    push = hub.wecom()
    response = await hub.send(push, sealed_request(hub, nested(2000)), WC_URL)
    assert response.status_code == 400
    assert await hub.replies() == []


async def test_a_wecom_multiple_choice_card_is_within_the_depth_limit(hub: Hub) -> None:
    items = ("<SelectedItems><SelectedItem><QuestionKey>q</QuestionKey><OptionIds>"
             "<OptionId>a</OptionId><OptionId>b</OptionId></OptionIds></SelectedItem>"
             "</SelectedItems>")  # fmt: skip
    message = (f"<xml><ToUserName>{WC_CORP}</ToUserName><FromUserName>{USERID}</FromUserName>"
               f"<CreateTime>{int(hub.clock.now().timestamp())}</CreateTime>"
               "<MsgType>event</MsgType><Event>template_card_event</Event>"
               f"<EventKey>vote</EventKey><TaskId>t1</TaskId>{items}"
               f"<AgentID>{WC_AGENT}</AgentID></xml>")  # fmt: skip
    response = await hub.send(hub.wecom(), sealed_request(hub, message.encode()), WC_URL)
    assert response.status_code == 200
    [reply] = await hub.replies()
    assert reply.text == "a,b"


async def test_an_entity_declared_in_utf16_is_400_and_stores_nothing(hub: Hub) -> None:
    push = hub.oa(safe_mode=False)
    document = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE xml [<!ENTITY e "伪造">]>'
                f"<xml><ToUserName>gh</ToUserName><FromUserName>{OPENID}</FromUserName>"
                f"<CreateTime>{int(hub.clock.now().timestamp())}</CreateTime>"
                "<MsgType>text</MsgType><Content>&e;</Content><MsgId>1</MsgId></xml>")  # fmt: skip
    request = dataclasses.replace(push.text(OPENID, "5"), body=document.encode("utf-16"))
    response = await hub.send(push, request, OA_URL)
    assert response.status_code == 400
    assert await hub.replies() == []


@pytest.mark.parametrize("created", ["²", "1" + "0" * 30, "-5", "١٧٠٠٠٠٠٠٠٠"])
async def test_a_receipt_whose_create_time_is_not_epoch_seconds_is_400_and_changes_nothing(
    hub: Hub, created: str
) -> None:
    message_id = await add_sent_message(hub, "200163836")
    push = hub.oa()
    request = push.event(OPENID, "TEMPLATESENDJOBFINISH", MsgID=200163836,
                         Status="failed:user block", CreateTime=created)  # fmt: skip
    response = await hub.send(push, request, OA_URL)
    assert response.status_code == 400
    assert (await message_status(hub, message_id))[0] == MessageStatus.SENT
    assert await hub.opt_outs() == []
    assert await seen_keys(hub) == []  # WeChat's corrected redelivery would still apply


# --- plain mode: a signature carries one body --------------------------------------------------


async def test_a_plain_mode_signature_reused_for_another_body_is_403(hub: Hub) -> None:
    push = hub.oa(safe_mode=False)
    genuine = push.text(OPENID, "5")
    assert (await hub.send(push, genuine, OA_URL)).status_code == 200
    # The same signature, another message: a different text, then another sender (the openid
    # query parameter is not signed either).
    other_text = dataclasses.replace(genuine, body=push.text(OPENID, "1").body)
    other_sender = dataclasses.replace(genuine, body=push.text(USERID, "1").body,
                                       params={**genuine.params, "openid": USERID})  # fmt: skip
    for forged in (other_text, other_sender):
        assert (await hub.send(push, forged, OA_URL)).status_code == 403
    [reply] = await hub.replies()
    assert reply.text == "5"


async def test_a_plain_mode_signature_reused_for_an_event_is_403(hub: Hub) -> None:
    push = hub.oa(safe_mode=False)
    genuine = push.text(OPENID, "5")
    assert (await hub.send(push, genuine, OA_URL)).status_code == 200
    forged = dataclasses.replace(genuine, body=push.unsubscribe(OPENID).body)
    assert (await hub.send(push, forged, OA_URL)).status_code == 403
    assert await hub.opt_outs() == []


async def test_a_plain_mode_redelivery_of_the_same_body_is_answered_and_stored_once(
    hub: Hub,
) -> None:
    push = hub.oa(safe_mode=False)
    request = push.text(OPENID, "5")
    outcomes = [await hub.send(push, request, OA_URL) for _ in range(2)]  # WeChat's retry
    assert [(r.status_code, r.text) for r in outcomes] == [(200, "success")] * 2
    assert len(await hub.replies()) == 1


async def test_a_plain_mode_nonce_is_remembered_until_its_timestamp_leaves_the_window(
    hub: Hub,
) -> None:
    push = hub.oa(safe_mode=False)
    await hub.send(push, push.text(OPENID, "5"), OA_URL)
    [key] = [k async for k in hub.redis.scan_iter(match=f"{hub.keys.prefix}:nonce:*")]
    assert 300 <= await hub.redis.ttl(key) <= 301


# --- plain mode: a URL check echoes one echostr ------------------------------------------------


async def test_a_plain_mode_verification_reused_for_another_echostr_is_403(hub: Hub) -> None:
    push = hub.oa()
    genuine = push.verify("8730495829347")
    assert (await hub.send(push, genuine, OA_URL)).text == "8730495829347"
    forged = dataclasses.replace(genuine, params={**genuine.params, "echostr": "<b>pwned</b>"})
    response = await hub.send(push, forged, OA_URL)
    assert response.status_code == 403
    assert "pwned" not in response.text
    retry = await hub.send(push, genuine, OA_URL)  # WeChat's retry of the same check
    assert (retry.status_code, retry.text) == (200, "8730495829347")


async def test_a_verification_signature_cannot_be_reused_for_a_plain_mode_body(hub: Hub) -> None:
    push = hub.oa(safe_mode=False)
    check = push.verify("8730495829347")
    assert (await hub.send(push, check, OA_URL)).status_code == 200
    message = push.text(OPENID, "5")
    params = {**message.params, **{k: check.params[k] for k in ("signature", "timestamp", "nonce")}}
    forged = dataclasses.replace(message, params=params)
    assert (await hub.send(push, forged, OA_URL)).status_code == 403
    assert await hub.replies() == []


@pytest.mark.parametrize("echostr", ["1" * 129, "123\n456", "12\x003", "回声"])
async def test_a_long_or_unprintable_echostr_is_400(hub: Hub, echostr: str) -> None:
    push = hub.oa()
    response = await hub.send(push, push.verify(echostr), OA_URL)
    assert response.status_code == 400
    assert echostr not in response.text


async def test_a_wecom_verification_signature_covers_its_echostr(hub: Hub) -> None:
    push = hub.wecom()
    genuine = push.verify("1616140317555161061")
    assert (await hub.send(push, genuine, WC_URL)).text == "1616140317555161061"
    other = push.verify("6666")  # another ciphertext under the first signature
    forged = dataclasses.replace(
        genuine, params={**genuine.params, "echostr": other.params["echostr"]}
    )
    response = await hub.send(push, forged, WC_URL)
    assert response.status_code == 401
    assert "6666" not in response.text
