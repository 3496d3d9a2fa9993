"""How a message reaches a contact: which channel, which address, or why not at all.

Every decision not to send is returned with a reason (in Chinese, shown to clerks) so the
outbox can record it as a ``skipped`` message instead of dropping the recipient silently.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from hub.store.models import Contact
from hub.vocab import ChannelName


@dataclass(frozen=True, slots=True)
class Route:
    channel: ChannelName
    address: str


@dataclass(frozen=True, slots=True)
class NoRoute:
    channel: ChannelName
    reason: str


def opted_out(contact: Contact, channel: ChannelName, kind: str) -> bool:
    """True when the contact unsubscribed from this channel, for every kind or for this one."""
    return any(o.channel == channel and o.kind in ("*", kind) for o in contact.opt_outs)


def route_contact(
    contact: Contact,
    kind: str,
    *,
    requested: ChannelName | None,
    default: ChannelName,
    enabled: Collection[str],
) -> Route | NoRoute:
    """Pick the channel: the one asked for, else the contact's preference, else the default."""
    if requested is not None:
        candidates = [requested]
    elif contact.preferred_channel is not None and contact.preferred_channel in enabled:
        candidates = [contact.preferred_channel, default]
    else:
        candidates = [default]
    reasons = []
    for channel in dict.fromkeys(candidates):
        if channel not in enabled:
            reasons.append(f"{channel.label}渠道未启用")
            continue
        if opted_out(contact, channel, kind):
            reasons.append(f"联系人已退订{channel.label}")
            continue
        address = contact.address(channel)
        if not address:
            reasons.append(f"联系人没有{channel.label}地址")
            continue
        return Route(channel=channel, address=address)
    return NoRoute(channel=candidates[0], reason="；".join(reasons))
