"""How a message reaches a contact: which channels in which order, or why not at all.

Every decision not to send is returned with a reason (in Chinese, shown to clerks) so the
outbox records it as a ``skipped`` message instead of dropping the recipient silently.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from hub.core.vocab import ChannelName
from hub.outbound.settings import RoutingSettings
from hub.store.models import Contact


@dataclass(frozen=True, slots=True)
class Route:
    channel: ChannelName
    address: str


@dataclass(frozen=True, slots=True)
class Routes:
    """The channel to try first, then the fallbacks in order (each a new attempt)."""

    primary: Route
    fallbacks: tuple[Route, ...] = ()


@dataclass(frozen=True, slots=True)
class NoRoute:
    channel: ChannelName
    reason: str


def channel_chain(
    kind: str,
    routing: RoutingSettings,
    *,
    enabled: Collection[str],
    default: ChannelName,
    requested: ChannelName | None = None,
) -> tuple[ChannelName, ...]:
    """The kind's chain restricted to enabled channels; the default channel when none is."""
    if requested is not None:
        return (requested,)
    configured = routing.chains.get(kind, routing.chains.get("default", ()))
    chain = tuple(ChannelName(c) for c in configured if c in enabled)
    return chain or (default,)


def opted_out(contact: Contact, channel: ChannelName, kind: str) -> bool:
    """True when the contact unsubscribed from this channel, for every kind or for this one."""
    return any(o.channel == channel and o.kind in ("*", kind) for o in contact.opt_outs)


def route_contact(
    contact: Contact, kind: str, chain: Sequence[ChannelName], *, enabled: Collection[str]
) -> Routes | NoRoute:
    """Walk the chain (the contact's preferred channel first when it is in it)."""
    preferred = contact.preferred_channel
    ordered = list(chain)
    if preferred is not None and preferred in ordered:
        ordered.remove(preferred)
        ordered.insert(0, preferred)
    routes: list[Route] = []
    reasons: list[str] = []
    for channel in ordered:
        if channel not in enabled:
            reasons.append(f"{channel.label}渠道未启用")
        elif opted_out(contact, channel, kind):
            reasons.append(f"联系人已退订{channel.label}")
        elif not (address := contact.address(channel)):
            reasons.append(f"联系人没有{channel.label}地址")
        else:
            routes.append(Route(channel=channel, address=address))
    if not routes:
        return NoRoute(channel=ordered[0], reason="；".join(reasons))
    return Routes(primary=routes[0], fallbacks=tuple(routes[1:]))
