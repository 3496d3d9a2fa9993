"""What the Telegram Bot API accepts: its :class:`ChannelLimits`.

A module of its own, importing nothing but :mod:`channels.base`, so the template check reads the
limits through :mod:`channels.registry` without loading aiogram.
"""

from __future__ import annotations

from typing import Final

from channels.base import ChannelLimits

#: A message's text, in characters after entity parsing.
TELEGRAM_LIMITS: Final = ChannelLimits(max_text_chars=4096)
