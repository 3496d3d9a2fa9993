"""``channels.wechat`` of config.yaml: the Official Accounts (公众号) and WeCom (企业微信) apps.

Pure pydantic data, no I/O. The channels take their app's section as it is
(:class:`channels.wechat.official_account.WechatMpChannel`,
:class:`channels.wechat.wecom.WecomChannel`), with the app's name (its key under ``apps``).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from channels.settings import ProviderSettings
from hub.core.settings import FrozenSettings, WebUrl

_APP_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class WechatAppSettings(ProviderSettings):
    """``channels.wechat.apps.<app_name>``: one app, an Official Account or a WeCom app."""

    kind: Literal["official_account", "wecom"]
    api_base: WebUrl | None = None
    app_id: str | None = None
    corp_id: str | None = None
    agent_id: str | None = None
    secret: str | None = None
    token: str | None = None
    encoding_aes_key: str | None = None

    @property
    def base_url(self) -> str:
        """Where the app's API lives: ``api_base``, else WeChat's or WeCom's own."""
        if self.api_base:
            return self.api_base
        if self.kind == "wecom":
            return "https://qyapi.weixin.qq.com"
        return "https://api.weixin.qq.com"

    @property
    def required_when_enabled(self) -> tuple[str, ...]:
        """The fields an enabled app of this kind cannot go without."""
        ids = ("app_id",) if self.kind == "official_account" else ("corp_id", "agent_id")
        return (*ids, "secret", "token", "encoding_aes_key")

    @field_validator("agent_id")
    @classmethod
    def _agent_id_is_a_number(cls, value: str | None) -> str | None:
        if value and not str(value).isdigit():
            raise ValueError(f"企业微信 AgentID 应为数字，而不是 {value!r} (agent_id)")
        return value

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key_shape(cls, value: str | None) -> str | None:
        if not value:
            return value
        try:
            key = base64.b64decode(value + "=", validate=True) if len(value) == 43 else b""
        except binascii.Error:
            key = b""
        if len(key) != 32:
            raise ValueError("EncodingAESKey 应为 43 个字符、解码后 32 字节 (encoding_aes_key)")
        return value


class WechatSettings(FrozenSettings):
    """``channels.wechat``: the apps by name; ``default_app`` is the ``wechat`` channel."""

    default_app: str | None = None
    apps: dict[str, WechatAppSettings] = Field(default_factory=dict)
    # Callbacks whose timestamp is further than this from now are refused (replays).
    replay_window_seconds: int = Field(default=300, ge=1)

    @field_validator("apps")
    @classmethod
    def _app_names(cls, apps: dict[str, WechatAppSettings]) -> dict[str, WechatAppSettings]:
        for name in apps:
            if not _APP_NAME.fullmatch(name):
                raise ValueError(f"应用名 {name!r} 只能包含字母、数字、_ . - (it names a URL)")
        return apps

    @model_validator(mode="after")
    def _default_is_an_official_account(self) -> WechatSettings:
        app = self.apps.get(self.default_app) if self.default_app else None
        if self.default_app and self.apps and app is None:
            raise ValueError(f"default_app {self.default_app!r} 不在 apps 中")
        if app is not None and app.kind != "official_account":
            raise ValueError(f"default_app {self.default_app!r} 应为公众号 (official_account)")
        return self
