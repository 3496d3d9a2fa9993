"""``channels.telegram`` of config.yaml: the bot's token, where the Bot API lives, and how
updates arrive (a webhook, or long polling by ``hub bot``).

Pure pydantic data, no I/O (no aiogram either: the loader reads it in every process). The
channel takes it as it is (:meth:`channels.telegram.channel.TelegramChannel.from_settings`).
"""

from __future__ import annotations

from typing import Literal

from channels.settings import ProviderSettings
from hub.core.settings import WebUrl


class TelegramSettings(ProviderSettings):
    """``channels.telegram``: ``webhook_secret`` is required in webhook mode only."""

    api_base: WebUrl = "https://api.telegram.org"
    token: str | None = None
    mode: Literal["webhook", "polling"] = "webhook"
    webhook_secret: str | None = None

    @property
    def required_when_enabled(self) -> tuple[str, ...]:
        """The fields an enabled bot in this mode cannot go without."""
        return ("token", "webhook_secret") if self.mode == "webhook" else ("token",)
