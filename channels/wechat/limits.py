"""What the Official Account (公众号) and WeCom (企业微信) accept: their :class:`ChannelLimits`.

A module of its own, importing nothing but :mod:`channels.base`, so the template check reads the
limits through :mod:`channels.registry` without loading aiohttp and the senders.
"""

from __future__ import annotations

from typing import Final

from channels.base import ChannelLimits

#: A template message field value, in characters (the Official Account refuses longer).
WECHAT_MP_LIMITS: Final = ChannelLimits(template_field_max_chars=20)
#: A WeCom text message's content, in UTF-8 bytes.
WECOM_LIMITS: Final = ChannelLimits(max_text_bytes=2048)
