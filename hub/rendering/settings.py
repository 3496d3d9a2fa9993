"""What rendering reads from the deployment's settings: the SMS accounts, whose signature the
template check counts in a text's length and whose enabled providers must have a template id.

A Protocol, not a section: :class:`hub.app.config.Settings` satisfies it structurally, and a
test may pass anything with ``channels.sms``.
"""

from __future__ import annotations

from typing import Protocol

from channels.sms.settings import SmsSettings


class SmsChannels(Protocol):
    """``channels`` as far as rendering reads it."""

    @property
    def sms(self) -> SmsSettings: ...


class RenderingConfig(Protocol):
    """The settings the template check reads (``channels.sms``)."""

    @property
    def channels(self) -> SmsChannels: ...
