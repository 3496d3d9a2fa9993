"""Aliyun SMS pushes parsed without a socket: the fake's wire shapes -> receipts and replies."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from channels.callbacks import CallbackError
from channels.fakes.aliyun_sms import AliyunSmsFake, ReceivedSms
from channels.registry import sms_callbacks
from channels.sms.aliyun_callbacks import parse_receipts, parse_reply
from hub.core.clock import SHANGHAI

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI).timestamp()


def _fake() -> AliyunSmsFake:
    return AliyunSmsFake("key-id", "key-secret", sign_name="主动服务", clock=lambda: T0)


def _sent(*numbers: str, out_id: str = "") -> ReceivedSms:
    return ReceivedSms(at=T0, action="SendSms", phone_numbers=numbers, sign_names=("主动服务",),
                       template_code="SMS_1", template_params=({},), biz_id="900^0",
                       out_id=out_id)  # fmt: skip


def _body(items: Any) -> bytes:
    return json.dumps(items, ensure_ascii=False).encode()


def test_a_report_is_a_receipt_keyed_on_biz_id_and_number_naming_its_message() -> None:
    [receipt] = parse_receipts(_body(_fake().reports([_sent("13900000001", out_id="42")])))
    assert (receipt.provider, receipt.provider_message_id) == ("aliyun", "900^0:13900000001")
    assert (receipt.delivered, receipt.error_code, receipt.detail) == (True, "", "")
    assert (receipt.message_id, receipt.recipient) == (42, "+8613900000001")
    assert receipt.at == datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
    assert not receipt.opted_out


def test_a_blacklisted_number_is_a_failed_receipt_that_says_opted_out() -> None:
    items = _fake().reports([_sent("13900000001", "13900000002")], success=False,
                            err_code="MOBILE_IN_BLACK", err_msg="黑名单")  # fmt: skip
    receipts = parse_receipts(_body(items))
    assert [(r.delivered, r.error_code, r.opted_out) for r in receipts] == [
        (False, "MOBILE_IN_BLACK", True), (False, "MOBILE_IN_BLACK", True),
    ]  # fmt: skip
    [other] = parse_receipts(_body(_fake().reports([_sent("13900000001")], success=False,
                                                   err_code="IS_CLOSE")))  # fmt: skip
    assert (other.error_code, other.opted_out) == ("IS_CLOSE", False)


def test_up_items_are_replies_keyed_on_sequence_id_and_one_object_is_a_batch_of_one() -> None:
    fake = _fake()
    first, second = fake.up("13900000001", "5"), fake.up("13900000002", "退订", sequence_id=77)
    replies = parse_reply(_body([first, second]))
    assert [(r.provider, r.provider_msg_id, r.sender, r.text) for r in replies] == [
        ("aliyun", str(first["sequence_id"]), "+8613900000001", "5"),
        ("aliyun", "77", "+8613900000002", "退订"),
    ]
    assert replies[0].raw == first
    assert [r.provider_msg_id for r in parse_reply(_body(second))] == ["77"]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        pytest.param([], "推送内容须为非空 JSON 数组 (body)", id="empty"),
        pytest.param("text", "推送内容须为非空 JSON 数组 (body)", id="not-an-array"),
        pytest.param([1], "第 1 条推送不是 JSON 对象 (item)", id="not-an-object"),
        pytest.param(
            [{"phone_number": "13900000001", "sequence_id": 1}],
            "第 1 条推送的 content 缺失或不是文本 (content)", id="no-content",
        ),
        pytest.param(
            [{"phone_number": "abc", "content": "5", "sequence_id": 1}],
            "第 1 条推送的 phone_number 缺失或格式不对 (phone_number)", id="bad-number",
        ),
        pytest.param(
            [{"phone_number": "13900000001", "content": "5", "sequence_id": "x1"}],
            "第 1 条推送的 sequence_id 缺失或不是数字 (sequence_id)", id="bad-sequence",
        ),
    ],
)  # fmt: skip
def test_an_up_push_that_is_not_aliyuns_names_the_item_and_field(items: Any, message: str) -> None:
    with pytest.raises(CallbackError) as raised:
        parse_reply(_body(items))
    assert str(raised.value) == message


def test_every_report_is_validated_before_any_is_returned() -> None:
    good = _fake().reports([_sent("13900000001")])[0]
    with pytest.raises(CallbackError, match="第 2 条推送的 success"):
        parse_receipts(_body([good, {**good, "success": "maybe"}]))
    with pytest.raises(CallbackError, match="report_time"):
        parse_receipts(_body([{**good, "report_time": "03/02 10:00"}]))


def test_a_body_that_is_not_json_is_a_callback_error() -> None:
    with pytest.raises(CallbackError, match=r"\(body\)"):
        parse_receipts(b"{")


def test_the_registry_hands_the_webhook_these_parsers() -> None:
    parsers = sms_callbacks("aliyun")
    assert parsers.parse_receipts is parse_receipts
    assert parsers.parse_reply is parse_reply
