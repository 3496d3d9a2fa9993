"""The provider table: each row matches its channel class, limits readable without loading it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from channels import registry
from channels.base import ChannelLimits
from channels.sms.limits import SMS_LIMITS
from channels.telegram.channel import MAX_TEXT
from channels.wechat.official_account import MAX_FIELD_CHARS


@pytest.mark.parametrize("name", list(registry.PROVIDERS))
def test_each_row_is_its_channel_class(name: str) -> None:
    row = registry.provider(name)
    cls = registry.channel_class(name)
    assert cls.provider == name
    assert cls.name == row.channel
    assert getattr(cls, "limits") is row.limits  # noqa: B009 - not on the Channel protocol


def test_the_providers_the_hub_sends_through() -> None:
    assert set(registry.PROVIDERS) == {
        "sandbox", "tencent", "aliyun", "wechat_mp", "wecom", "telegram",
    }  # fmt: skip
    assert registry.providers_of("sms") == ("tencent", "aliyun")
    assert registry.providers_of("wechat") == ("wechat_mp",)
    assert registry.providers_of("fax") == ()


def test_an_unknown_provider_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="tencent"):
        registry.limits_for("fax")
    with pytest.raises(KeyError, match="fax"):
        registry.channel_limits("fax")


def test_the_limits_are_the_ones_the_senders_enforce() -> None:
    assert registry.limits_for("telegram").max_text_chars == MAX_TEXT
    assert registry.limits_for("wechat_mp").template_field_max_chars == MAX_FIELD_CHARS


def test_an_sms_meets_both_providers_limits() -> None:
    sms = registry.channel_limits("sms")
    assert sms == SMS_LIMITS
    assert sms.max_text_chars == 500
    assert sms.template_param_max_chars == 35
    assert "mobile" in sms.reserved_names
    assert sms.template_id_pattern is None  # template ids are per provider
    assert registry.channel_limits("telegram") is registry.limits_for("telegram")


def test_together_with_keeps_the_stricter_limit() -> None:
    a = ChannelLimits(max_text_chars=10, reserved_names=frozenset({"x"}))
    b = ChannelLimits(max_text_chars=5, max_text_bytes=8, reserved_names=frozenset({"y"}))
    both = a.together_with(b)
    assert (both.max_text_chars, both.max_text_bytes) == (5, 8)
    assert both.reserved_names == {"x", "y"}


def test_reading_limits_loads_neither_aiohttp_nor_aiogram() -> None:
    code = (
        "import sys; from channels import registry; registry.channel_limits('telegram');"
        "registry.limits_for('wecom'); print('aiohttp' in sys.modules, 'aiogram' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
