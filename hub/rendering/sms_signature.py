"""The SMS signature a text is sent with, as the admin's template editor counts segments by it.

The provider in force is the one :mod:`hub.app.channel_setup` sends through: ``channels.sms.
provider`` when it is enabled, else the other provider when that one is. Its ``sign_name`` is
what the handset shows as 【signature】 before the text, so it counts in the segments
(:func:`hub.rendering.sms_text.measure_sms`). With no SMS provider enabled nothing is sent, and
the count assumes ``channels.sms.provider``'s configured signature, or
:data:`~hub.rendering.check.DEFAULT_SIGN_NAME` when it names none; :attr:`SmsSignature.source`
says which, in Chinese.

``hub templates check`` counts a folder of files with :func:`hub.rendering.check.sign_name`
instead (the longest signature configured), as a file may be sent by either provider later.
"""

from __future__ import annotations

from dataclasses import dataclass

from channels.sms.settings import AliyunSmsSettings, SmsSettings, TencentSmsSettings
from hub.rendering.check import DEFAULT_SIGN_NAME, PROVIDER_LABELS


@dataclass(frozen=True, slots=True)
class SmsSignature:
    """The signature counted, and where it comes from (``provider``: None when no SMS provider
    is enabled and the signature is assumed)."""

    name: str
    provider: str | None
    source: str


def signature_in_force(sms: SmsSettings) -> SmsSignature:
    """The signature of the SMS provider that sends, or the one assumed when none is enabled."""
    accounts: dict[str, TencentSmsSettings | AliyunSmsSettings] = {
        "tencent": sms.tencent, "aliyun": sms.aliyun,
    }  # fmt: skip
    order = [sms.provider, *(p for p in accounts if p != sms.provider)]
    sending = next((p for p in order if accounts[p].enabled), None)
    if sending is not None:
        # An enabled provider has its sign_name (required_when_enabled, checked at start-up).
        name = accounts[sending].sign_name or DEFAULT_SIGN_NAME
        failover = "" if sending == sms.provider else f"（{sms.provider} 未启用，由它发送）"
        label = PROVIDER_LABELS[sending]
        return SmsSignature(name, sending, f"按{label}短信签名【{name}】计算{failover}")
    configured = accounts[sms.provider].sign_name
    if configured:
        label = PROVIDER_LABELS[sms.provider]
        return SmsSignature(
            configured, None,
            f"未启用短信服务商，按 channels.sms.provider（{label}）配置的签名【{configured}】计算",
        )  # fmt: skip
    return SmsSignature(
        DEFAULT_SIGN_NAME, None,
        f"未配置短信签名，按默认签名【{DEFAULT_SIGN_NAME}】计算",
    )  # fmt: skip
