"""Tencent SMS callbacks parsed without a socket: the fake's wire shapes -> receipts and replies."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from channels.callbacks import CallbackError
from channels.fakes.tencent_sms_push import reply_event, status_report
from channels.registry import sms_callbacks
from channels.sms.tencent_callbacks import parse_receipts, parse_reply
from hub.core.clock import SHANGHAI

AT = datetime(2026, 3, 2, 10, 15, 30, tzinfo=SHANGHAI)


def _body(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def test_receipts_say_delivered_or_failed_with_the_operators_code() -> None:
    body = _body([
        status_report("sid-1", "+8613900000001", at=AT),
        status_report("sid-2", "+8613900000002", at=AT, delivered=False, errmsg="002"),
    ])  # fmt: skip
    delivered, failed = parse_receipts(body)
    assert (delivered.provider, delivered.provider_message_id, delivered.delivered) == (
        "tencent", "sid-1", True,
    )  # fmt: skip
    assert (delivered.at, delivered.error_code, delivered.detail) == (AT, "", "")
    assert (failed.provider_message_id, failed.delivered, failed.error_code) == (
        "sid-2",
        False,
        "002",
    )
    assert failed.detail == "关机/停机/无法接通手机/不在服务区"
    assert not failed.opted_out


def test_a_reply_is_the_sender_in_e164_with_an_id_stable_across_redeliveries() -> None:
    event = reply_event("+8613900000001", "5 非常满意", at=AT, sign="主动服务")
    [reply] = parse_reply(_body(event))
    [again] = parse_reply(_body(event))
    assert (reply.provider, reply.sender, reply.text) == ("tencent", "+8613900000001", "5 非常满意")
    assert reply.provider_msg_id == again.provider_msg_id
    assert reply.provider_msg_id.startswith("sha256:")
    assert reply.raw == event
    [other] = parse_reply(_body({**event, "text": "4"}))
    assert other.provider_msg_id != reply.provider_msg_id


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        pytest.param({"sid": "x"}, "body", id="receipts-not-an-array"),
        pytest.param([{"report_status": "SUCCESS"}], "sid", id="no-sid"),
        pytest.param([{"sid": "x", "report_status": "OK"}], "report_status", id="bad-status"),
        pytest.param(
            [{"sid": "x", "report_status": "SUCCESS", "user_receive_time": "昨天"}],
            "user_receive_time", id="bad-time",
        ),
    ],
)  # fmt: skip
def test_a_receipt_body_that_is_not_tencents_names_the_field(payload: Any, named: str) -> None:
    with pytest.raises(CallbackError, match=named):
        parse_receipts(_body(payload))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        pytest.param({"mobile": "13x"}, "mobile", id="mobile-not-digits"),
        pytest.param({"time": "yesterday"}, "time", id="time-not-seconds"),
        pytest.param({"time": True}, "time", id="time-a-bool"),
        pytest.param({"text": 5}, "text", id="text-not-text"),
    ],
)
def test_a_reply_body_that_is_not_tencents_names_the_field(
    change: dict[str, Any], named: str
) -> None:
    event = {**reply_event("+8613900000001", "5", at=AT, sign="主动服务"), **change}
    with pytest.raises(CallbackError, match=named):
        parse_reply(_body(event))


def test_a_body_that_is_not_json_or_nests_too_deep_is_a_callback_error() -> None:
    with pytest.raises(CallbackError, match="body"):
        parse_receipts(b"not json")
    with pytest.raises(CallbackError, match="body"):
        parse_reply(b"[" * 100_000)


def test_the_registry_hands_the_webhook_these_parsers() -> None:
    parsers = sms_callbacks("tencent")
    assert parsers.parse_receipts is parse_receipts
    assert parsers.parse_reply is parse_reply
