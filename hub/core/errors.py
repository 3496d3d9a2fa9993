"""The hub's one error tree.

Library exceptions (SQLAlchemy, redis-py, aiohttp, openpyxl, ...) are translated into these
at the boundary with ``raise ... from exc``; callers never see a library's own exception and
never get a failure turned into ``False`` or a log line.

::

    HubError
    ├── ConfigError              config.yaml is unusable (file, key path, line, reason); exit 2
    ├── UsageError               a command or API call was used wrongly (bad argument); exit 2
    │   ├── AudienceError        an audience expression has a bad term
    │   ├── TransitionError      a ticket cannot take that step in its state (API 409)
    │   └── AccessDeniedError    the caller's role or department may not do that (API 403)
    ├── InputError               a file a clerk gave us is unreadable as a whole (encoding, headers)
    ├── NotFoundError            a record that was named does not exist
    ├── StorageError             the database refused or is unreachable
    ├── QueueError               Redis refused or is unreachable
    ├── RenderError              a template failed to render (syntax, undefined variable, caps)
    └── ChannelError             a provider call failed (defined in channels.base)
        ├── RetryableError       try again later; carries ``retry_after`` seconds
        │   └── RateLimitedError the provider's rate/quota window is full (a number's 30 s,
        │                        hourly or daily limit, HTTP 429): retry when it opens, after
        │                        ``retry_after``; the wait is not a failed attempt
        └── PermanentError       never retry this message on this channel; carries ``code``

Messages meant for clerks (import rejects, config errors shown by the CLI) are in Chinese;
the ``key``/``file`` parts stay as written so they can be searched for.
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigError(HubError):
    """The configuration file cannot be used.

    ``file``, ``key`` (dotted path such as ``channels.sms.tencent.secret_id``) and ``line``
    locate the problem; ``reason`` says what is wrong.
    """

    def __init__(self, reason: str, *, file: str, key: str = "", line: int | None = None) -> None:
        self.file = file
        self.key = key
        self.line = line
        self.reason = reason
        # Further problems found in the same pass, so a clerk fixes them all at once.
        self.others: list[ConfigError] = []
        where = file + (f":{line}" if line is not None else "")
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


class UsageError(HubError):
    """A command, option or API argument was used wrongly."""


class AudienceError(UsageError):
    """An audience expression could not be parsed; ``term`` is the offending term."""

    def __init__(self, term: str, reason: str) -> None:
        self.term = term
        self.reason = reason
        super().__init__(f"受众表达式中的条件“{term}”无效：{reason}")


class TransitionError(UsageError):
    """A ticket cannot take a step (assign, resolve, ...) in the state it is in.

    The message names the step and the state in Chinese; ``state`` is the state's value.
    """

    def __init__(self, message: str, *, state: str) -> None:
        self.state = state
        super().__init__(message)


class AccessDeniedError(UsageError):
    """The caller's role or scope does not allow the step (a handler of another department)."""


class InputError(HubError):
    """An input file cannot be read at all (wrong encoding, missing required header, ...)."""

    def __init__(self, reason: str, *, file: str) -> None:
        self.file = file
        self.reason = reason
        super().__init__(f"{file}: {reason}")


class NotFoundError(HubError):
    """A named record does not exist."""


class StorageError(HubError):
    """The database failed or is unreachable."""


class QueueError(HubError):
    """Redis failed or is unreachable."""


class RenderError(HubError):
    """A template could not be rendered."""
