"""What a failed send attempt leads to: a retry, a hold, the next channel, failed, or dead.

The dispatcher (:mod:`hub.outbound.dispatch`) asks :meth:`SendFailures.decide` for each message
a provider did not take; :mod:`hub.outbound.send_records` writes the answer:

- the provider's "not now" (:class:`HoldError`): ``held`` until its time (or
  :data:`HOLD_DEFAULT`), not counted as an attempt;
- a rate-limit window (:class:`RateLimitedError`): ``queued`` again when it opens, not counted
  as an attempt, up to :data:`LIMIT_HORIZON` after the first limit, then as if refused;
- a generic failure (:class:`RetryableError`): retried with exponential backoff and jitter
  (or the provider's ``retry_after``), until ``max_attempts``, then dead-lettered;
- a refusal (:class:`PermanentError`): the message's next channel (its fallbacks, rendered when
  it was planned, :mod:`hub.outbound.compose`) as a new attempt, else ``failed``.

A retry, hold or rate-limit wait that would end in quiet hours waits them out, by planning's
rules (:class:`~hub.outbound.quiet_hours.QuietRules`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from channels.base import (
    ChannelError,
    HoldError,
    OutboundMessage,
    PermanentError,
    RateLimitedError,
    RetryableError,
)
from hub.core.clock import SHANGHAI
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.outbound.compose import FALLBACKS
from hub.outbound.quiet_hours import QuietRules
from hub.outbound.settings import DispatchSettings

# A provider's "not now" without a time: try again after this long.
HOLD_DEFAULT = timedelta(hours=1)

# A provider's rate-limit windows are waited for without using up attempts, but not forever:
# a window that would end more than this after the message was first limited fails it (two
# daily limits in a row are waited for, a third is not). The first limit's time is kept in the
# message's params under RATE_LIMITED_SINCE.
LIMIT_HORIZON = timedelta(hours=48)
RATE_LIMITED_SINCE = "rate_limited_since"


@dataclass(frozen=True, slots=True)
class FailedSend:
    """What one failed attempt leads to.

    ``outcome`` is the attempt's (``held``, ``limited``, ``retry``, ``fallback``, ``failed``),
    ``changes`` the message's columns that change; after the commit the message goes to the
    retry set due ``retry_at`` (epoch seconds), onto the ``fallback_to`` channel's stream, or
    to the dead letters with ``dead_reason`` — or nowhere (held, failed).
    """

    outcome: str
    changes: dict[str, Any]
    retry_at: float | None = None
    fallback_to: str | None = None
    dead_reason: str | None = None


class SendFailures:
    """Decides what failed attempts lead to, by the dispatch settings and the quiet hours."""

    def __init__(
        self, settings: DispatchSettings, rng: random.Random, quiet: QuietRules | None
    ) -> None:
        self.settings = settings
        self.rng = rng
        # Quiet hours a retry or hold waits out (None: they go when due).
        self.quiet = quiet

    def decide(
        self,
        channel: str,
        message: OutboundMessage,
        attempt_no: int,
        error: ChannelError,
        now: datetime,
    ) -> FailedSend:
        """What ``error`` on attempt ``attempt_no`` of ``message`` on ``channel`` leads to."""
        if isinstance(error, HoldError):
            until, quiet_end = self._after_quiet(message, error.until or now + HOLD_DEFAULT)
            when = quiet_end or f"{until.astimezone(SHANGHAI):%m-%d %H:%M}"
            quiet_note = "，且处于免打扰时段" if quiet_end else ""
            reason = f"服务商暂不允许发送{quiet_note}，暂缓至 {when}：{error}"
            changes = {"status": MessageStatus.HELD, "next_attempt_at": until,
                       "status_reason": reason, "attempts": attempt_no - 1}  # fmt: skip
            return FailedSend("held", changes)
        if isinstance(error, RateLimitedError):
            waiting = self._wait_for_window(message, attempt_no, error, now)
            if not isinstance(waiting, PermanentError):
                return waiting
            error = waiting  # waited long enough: as if refused (the next channel, else failed)
        if isinstance(error, RetryableError) and attempt_no < self.settings.max_attempts:
            due = now + timedelta(seconds=self._backoff(attempt_no, error))
            due, quiet_end = self._after_quiet(message, due)
            retry = f"且处于免打扰时段，{quiet_end} 后重试" if quiet_end else "将重试"
            reason = f"第 {attempt_no} 次发送失败，{retry}：{error}"
            changes = {"status": MessageStatus.QUEUED, "next_attempt_at": due,
                       "status_reason": reason}  # fmt: skip
            return FailedSend("retry", changes, retry_at=due.timestamp())
        fallbacks = list(message.params.get(FALLBACKS) or [])
        if isinstance(error, PermanentError) and fallbacks:
            # A fallback is a new attempt of the same message on the next channel of its chain.
            nxt = fallbacks.pop(0)
            failed_on, next_on = ChannelName(channel).label, ChannelName(nxt["channel"]).label
            changes = {
                "status": MessageStatus.QUEUED, "channel": nxt["channel"],
                "address": nxt["address"], "body": nxt["body"], "attempts": 0,
                "params": {**nxt.get("params", message.params), FALLBACKS: fallbacks},
                "status_reason": f"{failed_on}发送失败（{error}），改用{next_on}",
            }  # fmt: skip
            return FailedSend("fallback", changes, fallback_to=nxt["channel"])
        if isinstance(error, PermanentError):
            return FailedSend("failed", {"status": MessageStatus.FAILED,
                                         "status_reason": str(error)})  # fmt: skip
        reason = f"已发送 {attempt_no} 次均失败，转入死信：{error}"
        return FailedSend("failed", {"status": MessageStatus.DEAD, "status_reason": reason},
                          dead_reason=reason)  # fmt: skip

    def _wait_for_window(
        self, message: OutboundMessage, attempt_no: int, error: RateLimitedError, now: datetime
    ) -> FailedSend | PermanentError:
        """Retry when the provider's window opens, the wait not counted as a failed attempt.

        The message is fine, only early (a number's 30-second, hourly or daily limit): counting
        the waits would dead-letter it after ``max_attempts`` windows. A window that ends beyond
        :data:`LIMIT_HORIZON` after the first limit gives up, with the reason.

        A window that opens in quiet hours (a daily limit resets at midnight) is waited out
        until they end, as planning would hold the message, unless its kind bypasses them or
        it is an answer the contact is still waiting for. The horizon is the provider's: it
        is checked against the window, not the quiet-hours release.
        """
        params = message.params
        first = params.get(RATE_LIMITED_SINCE)
        since = datetime.fromisoformat(first) if isinstance(first, str) else now
        due = now + timedelta(seconds=max(error.retry_after, 0.0))
        if due - since > LIMIT_HORIZON:
            waited, most = (now - since) / timedelta(hours=1), LIMIT_HORIZON / timedelta(hours=1)
            reason = f"服务商限流已等待 {waited:.0f} 小时，再等将超过 {most:.0f} 小时上限，不再重试"
            return PermanentError(f"{reason}：{error}", code=error.code)
        due, quiet_end = self._after_quiet(message, due)
        if quiet_end is not None:
            reason = f"服务商限流，且处于免打扰时段，{quiet_end} 后重试：{error}"
        else:
            reason = f"服务商限流，{due.astimezone(SHANGHAI):%m-%d %H:%M:%S} 后重试：{error}"
        changes = {"status": MessageStatus.QUEUED, "next_attempt_at": due,
                   "status_reason": reason, "attempts": attempt_no - 1,
                   "params": {**params, RATE_LIMITED_SINCE: since.isoformat()}}  # fmt: skip
        return FailedSend("limited", changes, retry_at=due.timestamp())

    def _after_quiet(self, message: OutboundMessage, due: datetime) -> tuple[datetime, str | None]:
        """When a retry or hold due ``due`` may go: the end of quiet hours if ``due`` falls in
        them (with that local time, ``MM-DD HH:MM``, for the reason), else ``due`` and None.

        The rules are planning's: kinds in ``quiet_hours.bypass`` are not held, nor an answer
        the contact is still waiting for (:data:`~hub.outbound.quiet_hours.QUIET_EXEMPT_UNTIL`).
        """
        quiet = self.quiet
        if quiet is None:
            return due, None
        hold = quiet.hold(due, MessageKind(message.kind), message.params)
        if hold is None:
            return due, None
        return hold.release_at, f"{hold.release_at.astimezone(quiet.tz):%m-%d %H:%M}"

    def _backoff(self, attempt_no: int, error: RetryableError) -> float:
        if error.retry_after is not None:
            return max(error.retry_after, 0.0)
        ceiling: float = min(
            self.settings.backoff_max_seconds,
            self.settings.backoff_base_seconds * 2 ** (attempt_no - 1),
        )
        return ceiling * self.rng.uniform(0.5, 1.0)  # jitter spreads a burst of retries
