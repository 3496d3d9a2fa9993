"""The SMS signature the admin's template editor counts: the provider in force, else assumed."""

from __future__ import annotations

import pytest

from channels.sms.settings import AliyunSmsSettings, SmsSettings, TencentSmsSettings
from hub.rendering.check import DEFAULT_SIGN_NAME
from hub.rendering.sms_signature import SmsSignature, signature_in_force
from hub.rendering.sms_text import measure_sms


def _sms(provider: str, *, tencent: tuple[bool, str | None], aliyun: tuple[bool, str | None]
         ) -> SmsSettings:  # fmt: skip
    return SmsSettings.model_validate({
        "provider": provider,
        "tencent": TencentSmsSettings(enabled=tencent[0], sign_name=tencent[1]),
        "aliyun": AliyunSmsSettings(enabled=aliyun[0], sign_name=aliyun[1]),
    })  # fmt: skip


@pytest.mark.parametrize(
    ("sms", "name", "provider", "source"),
    [
        # channels.sms.provider enabled: its signature, not the other's (however long).
        (_sms("aliyun", tencent=(True, "腾讯签名很长很长很长"), aliyun=(True, "阿里签名")),
         "阿里签名", "aliyun", "按阿里云短信签名【阿里签名】计算"),
        # The named provider disabled: the other one sends (channel_setup's failover order).
        (_sms("tencent", tencent=(False, "腾讯签名"), aliyun=(True, "阿里签名")),
         "阿里签名", "aliyun", "按阿里云短信签名【阿里签名】计算（tencent 未启用，由它发送）"),
        # None enabled: the named provider's configured signature is assumed, and said so.
        (_sms("tencent", tencent=(False, "某市企业服务"), aliyun=(False, "阿里签名")),
         "某市企业服务", None,
         "未启用短信服务商，按 channels.sms.provider（腾讯云）配置的签名【某市企业服务】计算"),
        # Nothing configured at all: the default, said so.
        (SmsSettings(), DEFAULT_SIGN_NAME, None,
         f"未配置短信签名，按默认签名【{DEFAULT_SIGN_NAME}】计算"),
    ],
)  # fmt: skip
def test_the_signature_of_the_provider_in_force_or_the_one_assumed(
    sms: SmsSettings, name: str, provider: str | None, source: str
) -> None:
    assert signature_in_force(sms) == SmsSignature(name, provider, source)


def test_the_signature_decides_the_segment_count() -> None:
    # 【主动服务】 (6) + 64 = 70: one segment; a 10-character signature makes it 76: two (67 each).
    body = "字" * 64
    assert measure_sms(body, DEFAULT_SIGN_NAME).segments == 1
    long_sign = signature_in_force(_sms("tencent", tencent=(True, "某某市企业综合服务"),
                                        aliyun=(False, None)))  # fmt: skip
    assert measure_sms(body, long_sign.name).chars == 64 + 9 + 2
    assert measure_sms(body, long_sign.name).segments == 2
