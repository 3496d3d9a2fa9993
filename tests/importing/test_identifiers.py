"""Normalisation of USCCs, mobiles and account IDs, and masking for logs and exports."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
import pytest
import structlog
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType
from stdnum.cn import uscc as stdnum_uscc

from hub.core.identifiers import (
    _cn_number_type,
    _is_valid_uscc,
    mask_id,
    mask_mobile,
    mask_personal_data,
    mask_text,
    mask_uscc,
    normalize_mobile,
    normalize_openid,
    normalize_telegram_chat_id,
    normalize_uscc,
    normalize_wecom_userid,
)
from hub.core.vocab import ChannelName
from hub.queries.scope import Visibility
from tests.importing.factories import make_uscc, wrong_check

VALID_USCC = make_uscc(1234)


@pytest.mark.parametrize(
    "text",
    [
        "+86 138 0013 8000",
        "+8613800138000",
        "8613800138000",
        "86-138-0013-8000",
        "008613800138000",
        "138 0013 8000",
        "138-0013-8000",
        "13800138000",
        " 13800138000\t",
        "１３８００１３８０００",  # full-width, as typed with a Chinese IME
    ],
)
def test_mobile_spellings_normalise_to_e164(text: str) -> None:
    assert normalize_mobile(text) == "+8613800138000"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1380013800", "不是有效的手机号"),  # 10 digits
        ("138001380001", "不是有效的手机号"),  # 12 digits
        ("12345678901", "不是有效的手机号"),  # no such mobile prefix
        ("abc", "不是有效的手机号（含有文字或其他符号，一格只能填一个号码）"),
        ("138 0013 8000 转 12", "不是有效的手机号（含有文字或其他符号，一格只能填一个号码）"),
        ("010-62345678", "是固定电话，不是手机号"),
        ("400-810-8888", "不是手机号"),
        ("+852 9123 4567", "不是中国大陆手机号"),
        ("+1 650 253 0000", "不是中国大陆手机号"),
        (
            "1.38001E+10",
            "不是有效的手机号（疑似被 Excel 转成了科学计数法，请把该列设为“文本”后重新填写）",
        ),
    ],
)
def test_invalid_mobiles_are_refused_with_a_chinese_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)) as info:
        normalize_mobile(text)
    assert str(info.value) == reason


@pytest.mark.parametrize(
    "text",
    [
        VALID_USCC,
        VALID_USCC.lower(),
        f" {VALID_USCC[:8]} {VALID_USCC[8:]} ",
        VALID_USCC[:6] + "-" + VALID_USCC[6:],
    ],
)
def test_uscc_is_compacted_and_upper_cased(text: str) -> None:
    assert normalize_uscc(text) == VALID_USCC


def test_known_real_uscc_is_valid() -> None:
    # the example of python-stdnum's documentation
    assert normalize_uscc("91110000600037341L") == "91110000600037341L"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (wrong_check(VALID_USCC), "校验位错误"),
        ("91110000X", "长度应为 18 位，实为 9 位"),
        (VALID_USCC + "1", "长度应为 18 位，实为 19 位"),
        (
            "A" + VALID_USCC[1:],
            "格式错误：前 8 位应为数字，其后为数字或大写字母（不含 I、O、S、V、Z）",
        ),
        (
            VALID_USCC[:10] + "I" + VALID_USCC[11:],
            "格式错误：前 8 位应为数字，其后为数字或大写字母（不含 I、O、S、V、Z）",
        ),
        (
            "9.11100006000373E+17",
            "不是有效的统一社会信用代码"
            "（疑似被 Excel 转成了科学计数法，请把该列设为“文本”后重新填写）",
        ),
    ],
)
def test_invalid_uscc_is_refused_with_a_chinese_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)) as info:
        normalize_uscc(text)
    assert str(info.value) == reason


def test_account_ids() -> None:
    assert normalize_openid(" oUpF8uMuAJO_M2pxb1Q9zNjWeS6o ") == "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    assert normalize_wecom_userid("zhang.san@corp") == "zhang.san@corp"
    assert normalize_telegram_chat_id("-1001234567890") == "-1001234567890"
    for bad, normalize in [
        ("张三", normalize_openid),
        ("13800138000", normalize_openid),
        ("张 三", normalize_wecom_userid),
        ("@channel", normalize_telegram_chat_id),
    ]:
        with pytest.raises(ValueError, match="不是有效的"):
            normalize(bad)


@pytest.mark.parametrize(
    ("mask", "value", "masked"),
    [
        (mask_mobile, "+8613800138000", "+86138****8000"),
        (mask_mobile, "13800138000", "138****8000"),
        (mask_mobile, "12345", "****"),
        (mask_uscc, "91110000600037341L", "911100********341L"),
        (mask_id, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "oUpF****eS6o"),
        (mask_id, -1001234567890, "-100****7890"),
        (mask_id, "zhangsan", "zh****an"),
        (mask_id, "abc", "****"),
    ],
)
def test_masks(mask: Any, value: object, masked: str) -> None:
    assert mask(value) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("请回电13800138000，谢谢", "请回电138****8000，谢谢"),
        ("tel +86 138 0013 8000.", "tel +86138****8000."),
        ("8613800138000 and 008613800138000", "86138****8000 and 0086138****8000"),
        # longer digit runs are order numbers or codes, not phones
        ("工单 2024138001380001", "工单 2024138001380001"),
        ("USCC 91110000600037341L", "USCC 91110000600037341L"),
        ("landline 010-62345678", "landline 010-62345678"),
    ],
)
def test_mobiles_in_free_text_are_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


LONG = "13800138000" * 455  # 5,005 digits: no mobile, but whatever a sender claims


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        (LONG, "138****8000"),
        ("+" + LONG, "+13****8000"),
        ("86 " + LONG, "86 ****8000"),
        ("+1 415 555 2671", "+1 ****2671"),
        ("8208820", "82****20"),  # 7 to 10 characters: two at either end, as before
    ],
)
def test_mask_mobile_does_not_depend_on_the_value_being_a_mobile(value: str, masked: str) -> None:
    assert mask_mobile(value) == masked


def test_listed_addresses_are_masked_whatever_their_length() -> None:
    for channel in (ChannelName.SMS, ChannelName.WECHAT, ChannelName.TELEGRAM):
        shown = Visibility.everything().address(channel, LONG)
        assert len(shown) <= 12
        assert shown.count("****") == 1


def test_long_digit_runs_in_free_text_are_masked() -> None:
    # a run longer than any code the hub names (USCC 18, chat id 19) may hide phone numbers
    assert mask_text(f"sender {LONG} refused") == "sender 138****8000 refused"
    assert mask_text("工单 2024138001380001") == "工单 2024138001380001"


def test_structlog_processor_masks_a_sender() -> None:
    out = mask_personal_data(None, "info", {"sender": LONG, "event": f"reply from {LONG}"})
    assert out == {"sender": "1380****8000", "event": "reply from 138****8000"}


def test_structlog_processor_masks_known_keys_and_free_text() -> None:
    event = {
        "event": "短信发送失败 13800138000",
        "mobile": "+8613800138000",
        "head_mobile": "13900139000",
        "uscc": "91110000600037341L",
        "wechat_openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "telegram_chat_id": -1001234567890,
        "to": "+8613800138000",
        "contacts": [{"mobile": "13800138000", "name": "张三"}],
        "count": 3,
        "ok": True,
        "missing": None,
    }
    out = mask_personal_data(None, "info", dict(event))
    assert out == {
        "event": "短信发送失败 138****8000",
        "mobile": "+86138****8000",
        "head_mobile": "139****9000",
        "uscc": "911100********341L",
        "wechat_openid": "oUpF****eS6o",
        "telegram_chat_id": "-100****7890",
        "to": "+86138****8000",
        "contacts": [{"mobile": "138****8000", "name": "张三"}],
        "count": 3,
        "ok": True,
        "missing": None,
    }


def test_structlog_processor_in_a_chain() -> None:
    logger = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[mask_personal_data, structlog.processors.KeyValueRenderer(sort_keys=True)],
    )
    line = logger.info("sent", mobile="+8613800138000", userid="zhangsan01")
    assert line == "event='sent' mobile='+86138****8000' userid='zh****01'"


# --- the USCC fast path agrees with python-stdnum ------------------------------------------
# (deadline=None on these property tests: timing on a loaded test machine is not the point)

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
DIGITS = "0123456789"
# what a clerk or a broken export can put in a code's place: the letters GB 32100 leaves out,
# lower case, separators, and digits that are not ASCII
STRAY = "IOSVZabz -．٣"

uscc_bodies = st.builds(
    str.__add__,
    st.text(DIGITS, min_size=8, max_size=8),
    st.text(USCC_ALPHABET, min_size=9, max_size=9),
)
valid_usccs = uscc_bodies.map(lambda body: body + stdnum_uscc.calc_check_digit(body))


@settings(deadline=None)
@given(
    st.one_of(
        st.text(USCC_ALPHABET, min_size=18, max_size=18),
        st.builds(str.__add__, uscc_bodies, st.sampled_from(USCC_ALPHABET)),
    )
)
def test_fast_uscc_check_agrees_with_stdnum_on_random_codes(code: str) -> None:
    valid = stdnum_uscc.is_valid(code)
    assert _is_valid_uscc(code) == valid
    if valid:
        assert normalize_uscc(code) == code


@settings(deadline=None)
@given(valid_usccs, st.integers(0, 17), st.sampled_from(USCC_ALPHABET + STRAY))
def test_one_changed_character_is_judged_as_stdnum_judges_it(
    code: str, position: int, character: str
) -> None:
    changed = code[:position] + character + code[position + 1 :]
    if changed == changed.upper() and not {" ", "-"} & set(changed):  # as normalize_uscc gives it
        assert _is_valid_uscc(changed) == stdnum_uscc.is_valid(changed)
    try:
        normalized: str | None = normalize_uscc(changed)
    except ValueError:
        normalized = None
    expected = stdnum_uscc.validate(changed) if stdnum_uscc.is_valid(changed) else None
    assert normalized == expected


# --- the +86 number-type fast path agrees with phonenumbers ---------------------------------


@settings(deadline=None)
@given(st.text(DIGITS, min_size=10, max_size=10))
@example("3800138000")  # a mobile
@example("2345678901")  # no such prefix
def test_cn_number_type_agrees_with_phonenumbers(digits: str) -> None:
    national = "1" + digits  # every number normalize_mobile types itself has this shape
    number = phonenumbers.PhoneNumber(country_code=86, national_number=int(national))
    assert _cn_number_type()(national) == phonenumbers.number_type(number)


@settings(deadline=None)
@given(
    st.sampled_from(["", "+86", "86", "0086", "+86 "]), st.text(DIGITS, min_size=10, max_size=10)
)
def test_mobile_with_the_usual_shape_is_judged_by_the_cn_number_plan(
    prefix: str, digits: str
) -> None:
    number = phonenumbers.PhoneNumber(country_code=86, national_number=int("1" + digits))
    kind = phonenumbers.number_type(number)
    try:
        normalized: str | None = normalize_mobile(f"{prefix}1{digits}")
    except ValueError:
        normalized = None
    mobile = kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
    assert normalized == (f"+861{digits}" if mobile else None)
