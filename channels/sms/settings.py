"""``channels.sms`` of config.yaml: which SMS provider sends, and each provider's account.

Pure pydantic data, no I/O. The channels take their section as it is
(:class:`channels.sms.tencent.TencentSmsChannel`, :class:`channels.sms.aliyun.AliyunSmsChannel`);
secrets arrive from the environment through the loader (``${ENV_VAR}``), never from the file.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from channels.settings import ProviderSettings
from hub.core.settings import FrozenSettings, WebUrl


class TencentSmsSettings(ProviderSettings):
    """``channels.sms.tencent``: a Tencent Cloud SMS app and where its API lives."""

    endpoint: WebUrl = "https://sms.tencentcloudapi.com"
    region: str = "ap-guangzhou"
    secret_id: str | None = None
    secret_key: str | None = None
    sdk_app_id: str | None = None
    sign_name: str | None = None
    path_secret: str | None = None
    # Webhook source addresses (IPs or CIDR networks); empty = any (the path secret still holds).
    allowed_ips: tuple[str, ...] = ()
    # How long after a send Tencent's status query may still not list it (default: the channel's).
    status_settle_seconds: float | None = Field(default=None, gt=0)

    required_when_enabled: ClassVar[tuple[str, ...]] = (
        "secret_id",
        "secret_key",
        "sdk_app_id",
        "sign_name",
        "path_secret",
    )


class AliyunSmsSettings(ProviderSettings):
    """``channels.sms.aliyun``: an Aliyun SMS account and where its API lives."""

    endpoint: WebUrl = "https://dysmsapi.aliyuncs.com"
    access_key_id: str | None = None
    access_key_secret: str | None = None
    sign_name: str | None = None
    path_secret: str | None = None
    allowed_ips: tuple[str, ...] = ()
    status_settle_seconds: float | None = Field(default=None, gt=0)

    required_when_enabled: ClassVar[tuple[str, ...]] = (
        "access_key_id",
        "access_key_secret",
        "sign_name",
        "path_secret",
    )


class SmsSettings(FrozenSettings):
    """``channels.sms``: ``provider`` sends; the other one, when enabled too, is its failover."""

    provider: Literal["tencent", "aliyun"] = "tencent"
    tencent: TencentSmsSettings = TencentSmsSettings()
    aliyun: AliyunSmsSettings = AliyunSmsSettings()
