"""One recipient's message, composed: routed along its chain, rendered for each channel, held.

Planning (a trigger's audience, :mod:`hub.outbound.planning`) and notify (one notice,
:mod:`hub.outbound.notify`) compose every message here, so each gets its channel, its
fallbacks and their bodies, and its quiet-hours hold the same way:

1. route: :func:`~hub.outbound.routing.route_contact` walks the kind's chain
   (:meth:`~hub.outbound.planning.PlanningPolicy.chain`); no usable channel is a ``skipped``
   message with the reason;
2. render: the body and provider parameters for the primary channel and for each fallback
   (the dispatcher moves a refused message to the next one, :mod:`hub.outbound.send_failures`);
   a kind without a template on a routed channel raises :class:`RenderError` (the sender's
   mistake), one recipient's data the template cannot take is ``skipped`` with the reason;
3. hold: :meth:`ComposedMessage.held` applies a quiet-hours hold
   (:meth:`~hub.outbound.planning.PlanningPolicy.quiet_hold`) to a message that would go now.

Frequency caps and the same-content window are planning's alone (a notice is transactional),
applied between 2 and 3.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.core.errors import RenderError
from hub.core.vocab import ChannelName, MessageStatus
from hub.outbound.quiet_hours import QuietHold
from hub.outbound.routing import NoRoute, Route, route_contact
from hub.rendering.render import TemplateRenderer
from hub.store.models import Contact

#: In a stored message's params: the fallbacks still to try, in order (read by the dispatcher).
FALLBACKS = "fallbacks"


@dataclass(frozen=True, slots=True)
class ComposedMessage:
    """A message before it is stored: ``queued`` (or ``held``) with its bodies, or ``skipped``
    with the reason (and no body)."""

    channel: ChannelName
    address: str
    body: str
    status: MessageStatus
    reason: str | None
    release_at: datetime | None = None
    #: The next channels, each ``{"channel", "address", "body", "params"}``.
    fallbacks: tuple[dict[str, Any], ...] = ()
    #: What the provider sends from (``Rendered.message_params``): SMS values, WeChat fields.
    params: Mapping[str, Any] = field(default_factory=dict)
    template_version_id: int | None = None

    @classmethod
    def skipped(cls, channel: ChannelName, address: str, reason: str) -> ComposedMessage:
        """Recorded, not sent: why is ``reason``."""
        return cls(channel, address, "", MessageStatus.SKIPPED, reason)

    def held(self, hold: QuietHold | None) -> ComposedMessage:
        """Held until ``hold`` releases it, when it would go now; unchanged otherwise."""
        if hold is None or self.status is not MessageStatus.QUEUED:
            return self
        return dataclasses.replace(
            self, status=MessageStatus.HELD, release_at=hold.release_at, reason=hold.reason
        )

    def stored_params(self) -> dict[str, Any]:
        """The row's ``params``: the provider's, with the fallbacks under :data:`FALLBACKS`."""
        if not self.fallbacks:
            return dict(self.params)
        return {**self.params, FALLBACKS: list(self.fallbacks)}


def compose_message(
    recipient: Contact,
    kind: str,
    chain: Sequence[ChannelName],
    variables: Mapping[str, Any],
    renderer: TemplateRenderer,
    *,
    enabled: Collection[str],
) -> ComposedMessage:
    """Route ``recipient`` along ``chain`` and render ``kind`` for the primary channel and
    each fallback from ``variables``; ``queued``, or ``skipped`` with the reason.

    ``recipient`` is a :class:`Contact` or reads like one (``address``, ``preferred_channel``,
    ``opt_outs``). Raises :class:`RenderError` when a routed channel has no template for
    ``kind``.
    """
    routes = route_contact(recipient, kind, chain, enabled=enabled)
    if isinstance(routes, NoRoute):
        return ComposedMessage.skipped(routes.channel, "", routes.reason)
    primary = routes.primary
    try:
        rendered = renderer.render_message(kind, primary.channel.value, variables)
        fallbacks = tuple(_fallback(renderer, kind, r, variables) for r in routes.fallbacks)
    except RenderError as exc:
        # No template at all is the sender's mistake: refuse the whole trigger.
        channels = (primary.channel, *(r.channel for r in routes.fallbacks))
        if any(renderer.catalog.get(kind, c.value) is None for c in channels):
            raise
        # One recipient's data the template cannot take: recorded, the rest go out.
        return ComposedMessage.skipped(primary.channel, primary.address, f"模板渲染失败：{exc}")
    return ComposedMessage(
        primary.channel, primary.address, rendered.body, MessageStatus.QUEUED, None,
        fallbacks=fallbacks, params=rendered.message_params(),
        template_version_id=rendered.version_id,
    )  # fmt: skip


def _fallback(
    renderer: TemplateRenderer, kind: str, route: Route, variables: Mapping[str, Any]
) -> dict[str, Any]:
    rendered = renderer.render_message(kind, route.channel.value, variables)
    return {"channel": route.channel.value, "address": route.address,
            "body": rendered.body, "params": rendered.message_params()}  # fmt: skip
