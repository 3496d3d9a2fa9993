"""WeChat and WeCom callbacks verified, opened and parsed without a socket.

The requests are :class:`channels.fakes.wechat_push.WechatPush`'s, built as the platforms build
them: signed with the app's Token and, in safe mode and for WeCom, encrypted with its key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from channels.callbacks import CallbackError, CallbackRefusedError, CallbackSignatureError
from channels.fakes.wechat_push import CallbackRequest, WechatPush
from channels.registry import signed_callbacks
from channels.wechat.callbacks import WechatCallbacks
from hub.core.clock import FixedClock

OA_TOKEN, OA_APPID = "oa-token-1", "wx2c2769f8efd9abc2"
OA_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
WC_TOKEN, WC_CORP, WC_AGENT = "QDG6eK", "ww5823bf96d3bd56c7", "1000002"
WC_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
CLOCK = FixedClock(NOW)


def _oa(*, encoding_aes_key: str | None = OA_KEY) -> WechatCallbacks:
    app = WechatCallbacks.for_app(
        "main", kind="official_account", token=OA_TOKEN, receive_id=OA_APPID,
        encoding_aes_key=encoding_aes_key,
    )  # fmt: skip
    assert app is not None
    return app


def _wecom() -> WechatCallbacks:
    app = WechatCallbacks.for_app("work", kind="wecom", token=WC_TOKEN, receive_id=WC_CORP,
                                  encoding_aes_key=WC_KEY, agent_id=WC_AGENT)  # fmt: skip
    assert app is not None
    return app


def _oa_push(*, safe_mode: bool = True, token: str = OA_TOKEN) -> WechatPush:
    return WechatPush.official_account(token=token, app_id=OA_APPID, encoding_aes_key=OA_KEY,
                                       safe_mode=safe_mode, clock=CLOCK)  # fmt: skip


def _wecom_push(**overrides: Any) -> WechatPush:
    config: dict[str, Any] = {"token": WC_TOKEN, "corp_id": WC_CORP, "agent_id": WC_AGENT,
                              "encoding_aes_key": WC_KEY, "clock": CLOCK, **overrides}  # fmt: skip
    return WechatPush.wecom(**config)


def _open(app: WechatCallbacks, request: CallbackRequest) -> dict[str, Any]:
    return app.open(request.params, request.body)


@pytest.mark.parametrize("safe_mode", [True, False], ids=["safe", "plain"])
def test_an_official_account_text_is_a_reply_keyed_on_its_msg_id(safe_mode: bool) -> None:
    app, request = _oa(), _oa_push(safe_mode=safe_mode).text(OPENID, "5 非常满意", msg_id=123)
    assert app.signs_content(request.params) is safe_mode
    fields = _open(app, request)
    assert app.addressed_to_us(request.params, fields)
    reply = app.parse_reply(fields)
    assert reply is not None
    assert (reply.provider, reply.provider_msg_id, reply.sender, reply.text) == (
        "wechat_mp", "123", OPENID, "5 非常满意",
    )  # fmt: skip
    assert reply.raw["hub_app"] == "main"


def test_media_is_a_reply_labelled_with_its_media_id_and_recognition() -> None:
    app, push = _oa(), _oa_push()
    voice = app.parse_reply(_open(app, push.voice(OPENID, "m-1", recognition="满意", msg_id=7)))
    image = app.parse_reply(_open(app, push.image(OPENID, "m-2", msg_id=8)))
    assert voice is not None
    assert image is not None
    assert voice.text == "[语音] MediaId=m-1 识别：满意"
    assert image.text == "[图片] MediaId=m-2"


def test_a_wecom_card_click_is_a_reply_whose_text_is_the_button_key() -> None:
    app = _wecom()
    request = _wecom_push().template_card_click("zhangsan", "task-9", "rating:5")
    fields = _open(app, request)
    assert app.addressed_to_us(request.params, fields)
    reply = app.parse_reply(fields)
    assert reply is not None
    assert (reply.provider, reply.sender, reply.text) == ("wecom", "zhangsan", "rating:5")
    assert reply.provider_msg_id == "card:task-9:zhangsan:rating:5"


def test_follow_and_leave_are_events_deduped_on_sender_time_and_event() -> None:
    app, push = _oa(), _oa_push()
    joined = _open(app, push.subscribe(OPENID))
    left = _open(app, push.unsubscribe(OPENID))
    assert app.parse_reply(joined) is None
    follow, leave = app.parse_event(joined), app.parse_event(left)
    assert (follow.sender, follow.name, follow.followed, follow.receipts) == (
        OPENID, "subscribe", True, (),
    )  # fmt: skip
    assert (leave.name, leave.followed) == ("unsubscribe", False)
    assert follow.dedupe_key != leave.dedupe_key
    assert app.parse_event(_open(app, push.subscribe(OPENID))).dedupe_key == follow.dedupe_key


def test_a_template_job_finish_is_a_receipt_and_a_user_block_says_opted_out() -> None:
    app, push = _oa(), _oa_push()
    delivered = app.parse_event(_open(app, push.template_send_job_finish(OPENID, 555)))
    blocked = app.parse_event(
        _open(app, push.template_send_job_finish(OPENID, 556, status="failed:user block"))
    )
    [ok] = delivered.receipts
    assert (ok.provider, ok.provider_message_id, ok.delivered, ok.opted_out) == (
        "wechat_mp", "555", True, False,
    )  # fmt: skip
    assert ok.at == NOW
    [refused] = blocked.receipts
    assert (refused.delivered, refused.error_code, refused.opted_out) == (
        False, "failed:user block", True,
    )  # fmt: skip
    assert refused.detail == "用户拒收 (user block)"


def test_a_receipt_without_its_msg_id_is_a_callback_error() -> None:
    app = _oa()
    fields = _open(app, _oa_push().event(OPENID, "TEMPLATESENDJOBFINISH", Status="success"))
    with pytest.raises(CallbackError, match="MsgID"):
        app.parse_event(fields)


def test_a_message_without_its_sender_is_a_callback_error() -> None:
    with pytest.raises(CallbackError, match="FromUserName"):
        _oa().parse_reply({"MsgType": "text", "Content": "5"})


def test_a_forged_signature_is_a_signature_error_and_another_key_is_refused() -> None:
    app = _oa()
    with pytest.raises(CallbackSignatureError):
        _open(app, _oa_push(token="forged").text(OPENID, "5"))
    with pytest.raises(CallbackSignatureError):
        _open(app, _oa_push(safe_mode=False, token="forged").text(OPENID, "5"))
    other_corp = _wecom_push(corp_id="ww-someone-else")
    with pytest.raises(CallbackRefusedError) as raised:
        _open(_wecom(), other_corp.text("zhangsan", "5"))
    assert not isinstance(raised.value, CallbackSignatureError)


def test_a_safe_mode_message_to_an_app_without_its_key_is_refused() -> None:
    with pytest.raises(CallbackRefusedError):
        _open(_oa(encoding_aes_key=None), _oa_push().text(OPENID, "5"))


def test_a_body_that_is_not_wechats_xml_is_a_callback_error() -> None:
    request = _oa_push(safe_mode=False).text(OPENID, "5")
    with pytest.raises(CallbackError):
        _oa().open(request.params, b"<xml><!DOCTYPE x></xml>")
    with pytest.raises(CallbackError):
        _oa().open(request.params, b"<xml><CreateTime>\xc2\xb2</CreateTime></xml>")


def test_another_agent_or_another_openid_is_not_addressed_to_us() -> None:
    app = _wecom()
    request = _wecom_push(agent_id="1000009").text("zhangsan", "5")
    assert not app.addressed_to_us(request.params, _open(app, request))
    plain = _oa_push(safe_mode=False).text(OPENID, "5")
    fields = _open(_oa(), plain)
    assert not _oa().addressed_to_us({**plain.params, "openid": "o-someone-else"}, fields)


def test_the_url_check_echoes_plain_and_decrypts_wecom() -> None:
    plain = _oa_push().verify("12345678901234567890")
    assert _oa().verify_url(plain.params) == "12345678901234567890"
    sealed = _wecom_push().verify("wecom-echo")
    assert _wecom().verify_url(sealed.params) == "wecom-echo"
    assert _wecom().signs_content(sealed.params)
    assert not _oa().signs_content(plain.params)
    with pytest.raises(CallbackSignatureError):
        _oa().verify_url({**plain.params, "signature": "0" * 40})
    with pytest.raises(CallbackError):
        _oa().verify_url({**plain.params, "echostr": "x" * 129})


def test_the_registry_builds_an_apps_callbacks_and_none_for_wecom_without_a_key() -> None:
    built = signed_callbacks("main", kind="official_account", token=OA_TOKEN,
                             receive_id=OA_APPID, encoding_aes_key=None)  # fmt: skip
    assert isinstance(built, WechatCallbacks)
    assert built.provider == "wechat_mp"
    assert signed_callbacks("work", kind="wecom", token=WC_TOKEN, receive_id=WC_CORP,
                            encoding_aes_key=None) is None  # fmt: skip
    with pytest.raises(ValueError, match="encoding_aes_key"):
        signed_callbacks("main", kind="official_account", token=OA_TOKEN, receive_id=OA_APPID,
                         encoding_aes_key="short")  # fmt: skip
