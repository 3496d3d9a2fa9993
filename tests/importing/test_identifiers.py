"""Normalisation of USCCs, mobiles and account IDs, and masking for logs and exports."""

from __future__ import annotations

import re
from typing import Any

import pytest
import structlog

from hub.identifiers import (
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
