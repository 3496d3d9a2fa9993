"""Who may see what: the enterprise scope of a reader and the masking of personal addresses.

A staff member with a department sees the enterprises whose industry routes to that department
(``Department.industries``); one with a district sees the enterprises of that region; one with
both sees their intersection. Records not linked to any enterprise (a reply from an unknown
number) are visible only to unrestricted readers. Mobiles and openids are masked unless the
reader may see them in full (PIPL, docs/design.md "Personal data").
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute

from hub.core.identifiers import mask_id, mask_mobile
from hub.core.vocab import ChannelName
from hub.store.models import Enterprise

# Channels whose address is a mobile number (the sandbox falls back to "contact:<id>").
_MOBILE_CHANNELS = frozenset({ChannelName.SMS, ChannelName.SANDBOX})


@dataclass(frozen=True, slots=True)
class Visibility:
    """The enterprises a reader may see (``None``: no limit) and whether addresses show in full."""

    industries: frozenset[str] | None = None
    region: str | None = None
    full_addresses: bool = False

    @classmethod
    def everything(cls, *, full_addresses: bool = False) -> Visibility:
        return cls(None, None, full_addresses)

    @property
    def restricted(self) -> bool:
        return self.industries is not None or self.region is not None

    def enterprise_filter(
        self, enterprise_id: InstrumentedAttribute[int | None] | InstrumentedAttribute[int]
    ) -> sa.ColumnElement[bool] | None:
        """A WHERE clause on a column holding an enterprise id; None when nothing is hidden.

        A subquery rather than a join, so any table with an ``enterprise_id`` (replies,
        messages, tickets, visits) is scoped the same way.
        """
        if not self.restricted:
            return None
        visible = sa.select(Enterprise.id)
        if self.industries is not None:
            visible = visible.where(Enterprise.industry.in_(sorted(self.industries)))
        if self.region is not None:
            visible = visible.where(Enterprise.region == self.region)
        return enterprise_id.in_(visible)

    def address(self, channel: ChannelName, address: str) -> str:
        """A contact's address on a channel as this reader may see it."""
        if self.full_addresses:
            return address
        return mask_mobile(address) if channel in _MOBILE_CHANNELS else mask_id(address)
