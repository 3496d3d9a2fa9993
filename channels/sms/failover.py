"""SMS over two providers: the configured one, and the other as failover (docs/design.md rules).

Messages go to the primary. Those it fails for a provider-wide reason — it is down or
unreachable (network, HTTP 5xx, an unreadable answer, its internal errors) or refuses our
account (credentials, signature, template, balance) — are sent again, in the same attempt,
through the secondary. A per-number answer (a limit, a blacklist, a bad number) stays the
primary's: the other provider would say the same, or the limit exists to be respected.

Both providers read their approved template ids from the same message parameters
(``template_ids.tencent`` / ``template_ids.aliyun``), so a message renders once for both.

A send whose outcome is unknown may have gone through either: the pair's status query asks
the primary, then the secondary about what the primary does not hold; taken by either is
taken, never taken only when both say so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import ClassVar

import structlog

from channels.base import (
    Channel,
    ChannelError,
    ChannelLimits,
    OutboundMessage,
    ProbeAnswer,
    ProviderConfigError,
    RetryableError,
    SendProbe,
    SendResult,
    StatusQuerying,
    Verdict,
)
from channels.sms.limits import SMS_LIMITS

log = structlog.get_logger(__name__)

# Codes of RetryableError that mean "this provider, not this number".
_OUTAGE_CODES = frozenset({"Network", "BadResponse", "MissingStatus"})
_OUTAGE_PREFIXES = ("HTTP5", "InternalError", "isp.")


def is_provider_outage(error: ChannelError) -> bool:
    """True when the provider as a whole failed, so the other provider may succeed."""
    if isinstance(error, ProviderConfigError):
        return True
    if not isinstance(error, RetryableError):
        return False
    return error.code in _OUTAGE_CODES or error.code.startswith(_OUTAGE_PREFIXES)


class FailoverSmsChannel:
    """The ``sms`` channel: ``primary`` first, ``secondary`` for the primary's outages."""

    name: ClassVar[str] = "sms"
    # One token bucket and one name on the attempt records for the pair.
    provider: ClassVar[str] = "sms"
    limits: ClassVar[ChannelLimits] = SMS_LIMITS  # what both providers accept
    max_batch: ClassVar[int] = 100  # the smaller of the two (Aliyun's SendBatchSms)
    default_qps: ClassVar[float] = 50.0

    def __init__(self, primary: Channel, secondary: Channel) -> None:
        self.primary = primary
        self.secondary = secondary
        #: The primary's configured rate holds for the pair.
        self.qps = float(getattr(primary, "qps", primary.default_qps))

    async def send_batch(
        self, messages: Sequence[OutboundMessage]
    ) -> list[SendResult | ChannelError]:
        results = list(await self.primary.send_batch(messages))
        retry = [
            i
            for i, r in enumerate(results)
            if isinstance(r, ChannelError) and is_provider_outage(r)
        ]
        if retry:
            again = await self.secondary.send_batch([messages[i] for i in retry])
            for index, result in zip(retry, again, strict=True):
                first = results[index]
                assert isinstance(first, ChannelError)
                if isinstance(result, SendResult):
                    # On record: who sent it, and why the primary did not (an account
                    # problem there still alerts an admin, through the dispatcher).
                    result = dataclasses.replace(
                        result, provider=self.secondary.provider,
                        failed_over=(self.primary.provider, first),
                    )  # fmt: skip
                results[index] = result
            log.warning("sms_failover", primary=self.primary.provider,
                        secondary=self.secondary.provider, count=len(retry))  # fmt: skip
        return results

    @property
    def status_settle_seconds(self) -> float:
        """The longer of the two providers' settle times."""
        return max(getattr(c, "status_settle_seconds", 0.0) for c in (self.primary, self.secondary))

    async def query_sent(self, probes: Sequence[SendProbe]) -> list[ProbeAnswer]:
        """Taken if either provider took it; not taken only if neither did."""
        answers = await _ask(self.primary, probes)
        open_ = [i for i, a in enumerate(answers) if a.verdict is not Verdict.TAKEN]
        if not open_:
            return answers
        second = await _ask(self.secondary, [probes[i] for i in open_])
        for index, other in zip(open_, second, strict=True):
            first = answers[index]
            if other.verdict is Verdict.TAKEN:
                answers[index] = other
            elif Verdict.UNKNOWN in (first.verdict, other.verdict):
                detail = "；".join(a.detail for a in (first, other) if a.detail)
                answers[index] = ProbeAnswer(first.message_id, Verdict.UNKNOWN, detail=detail)
        return answers

    async def aclose(self) -> None:
        await self.primary.aclose()
        await self.secondary.aclose()


async def _ask(channel: Channel, probes: Sequence[SendProbe]) -> list[ProbeAnswer]:
    if isinstance(channel, StatusQuerying):
        return list(await channel.query_sent(probes))
    detail = f"{channel.provider} 不支持状态查询"
    return [ProbeAnswer(p.message_id, Verdict.UNKNOWN, detail=detail) for p in probes]
