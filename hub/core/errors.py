"""The hub's one error tree.

Every exception class of hub/ and channels/ is drawn below, or derives from one that is
(``tests/core/test_error_tree.py`` imports every module and holds both to this, and each line
to its real base). A class defined outside this module names its module first.

Library exceptions (SQLAlchemy, redis-py, aiohttp, openpyxl, jinja2, ...) are translated into
these at the boundary with ``raise ... from exc``; callers never see a library's own exception
and never get a failure turned into ``False`` or a log line. The boundaries answer them so: the
CLI (``hub.cli.main``) exits 2 for ConfigError, UsageError and InputError and 1 for any other
HubError; a route of the JSON API (``hub.web.api.errors.ApiRoute``) answers ApiError and
Starlette's HTTPException with their status, NotFoundError 404, UsageError 422, anything else
500; the webhooks answer the refusals of their own (below), and the dispatcher turns a
ChannelError into a retry, a hold, a fallback, a failure or a dead letter.

::

    HubError
    ├── ConfigError              a config file (config.yaml, schedules/*.yaml) is unusable:
    │                            file, key path, line, reason; exit 2, every problem shown
    ├── UsageError               a command or API call was used wrongly (bad argument); exit 2,
    │   │                        API 422
    │   ├── AudienceError        an audience expression has a bad term
    │   ├── TransitionError      a ticket cannot take that step in its state (API 409)
    │   ├── AccessDeniedError    the caller's role or department may not do that (API 403)
    │   ├── PayloadError         channels.sms.payloads: a provider's push is not JSON or is
    │   │                        nested too deep; the SMS parsers raise it as CallbackError
    │   ├── CallbackError        channels.callbacks: a callback body is not what the provider
    │   │                        sends (the field named); the webhooks answer 400
    │   ├── UnknownKeyboard      channels.telegram.keyboards: the params name no keyboard, or
    │   │                        lack what it needs; sent as PermanentError("UnknownKeyboard")
    │   └── FormInvalid          hub.web.admin.schedule_forms: a schedule form cannot be saved;
    │                            ``errors`` name each field; the page shows them beside it
    ├── InputError               a file a clerk gave us is unreadable as a whole (encoding,
    │                            headers); exit 2, nothing imported
    ├── NotFoundError            a record that was named does not exist; exit 1, API 404
    ├── StorageError             the database refused or is unreachable; exit 1, API 500
    ├── QueueError               Redis refused or is unreachable; exit 1, API 500
    ├── RenderError              a template failed to render (syntax, undefined variable, caps):
    │                            planning and notify skip that recipient's message; a missing
    │                            template refuses the whole send (exit 1)
    ├── ApiError                 hub.web.api.errors: an API answer other than success (status,
    │                            code, Chinese message); ApiRoute answers it as it is
    ├── HttpError                channels.sms.http_client: an exchange could not be completed
    │                            (connect, reset, malformed answer); the SMS channels map it
    │                            to RetryableError(code="Network")
    ├── _Recursive               hub.core.yaml_aliases (private): an alias contains itself;
    │                            caught there and reported as the file's AliasProblem
    ├── CallbackRefusedError     channels.callbacks: a callback cannot be taken as the
    │   │                        provider's (not ours to open, another app's); 403
    │   └── CallbackSignatureError  channels.callbacks: its signature is missing or wrong; 401
    ├── WechatCryptoError        channels.wechat.crypto: a WeChat/WeCom callback cannot be
    │   │                        verified or opened; channels.wechat.callbacks raises it as a
    │   │                        CallbackRefusedError (403) but for:
    │   ├── SignatureError       channels.wechat.crypto: signature missing or wrong; as a
    │   │                        CallbackSignatureError (401)
    │   ├── DecryptError         channels.wechat.crypto: does not open with our key; 403
    │   ├── ReceiverMismatchError  channels.wechat.crypto: opened, names another app; 403
    │   └── MalformedXmlError    channels.wechat.crypto: not the XML WeChat sends; as a
    │                            CallbackError (400)
    └── ChannelError             channels.base: a provider call failed; carries ``code``; the
        │                        dispatcher dead-letters one that is none of the kinds below
        ├── RetryableError       channels.base: try again later, after ``retry_after`` seconds
        │   │                    if given; retried with backoff, dead after max_attempts
        │   └── RateLimitedError  channels.base: the provider's rate/quota window is full (a
        │                        number's 30 s, hourly or daily limit, HTTP 429): retried when
        │                        it opens, after ``retry_after``; the wait is not a failed
        │                        attempt, and past the horizon it is a PermanentError
        ├── PermanentError       channels.base: never on this channel: the next channel of the
        │   │                    message's fallbacks, else failed
        │   ├── OptedOutError    channels.base: the recipient refused this channel at the
        │   │                    provider; an opt-out is recorded, then as PermanentError
        │   └── ProviderConfigError  channels.base: the provider refused our side (template,
        │                        signature, credentials); as PermanentError, plus an alert
        └── HoldError            channels.base: the provider will take it later, not now; held
                                 until ``until``, the attempt not counted

Outside HubError, each for its reason:

::

    jinja2.exceptions.SecurityError
    └── RenderLimitError         hub.rendering.sizes: a template hit a cap (time, loop steps,
                                 size). One of jinja2's sandbox refusals, not a RenderError:
                                 the renderer passes RenderErrors on as they are and explains
                                 the rest, so this one becomes a RenderError naming the
                                 template's line
    starlette.exceptions.HTTPException
    └── BodyTooLargeError        hub.web.body_limit: a body passed its route's limit while
                                 received; an HTTPException so that FastAPI's body parsing
                                 lets it through: 413 (the API's ``too_large``)
    Exception
    ├── AdminPageError           hub.web.admin.auth: a request an admin page refuses (status,
    │                            Chinese text); the admin's handler answers the error page.
    │                            Not a HubError, so that no page's ``except HubError`` meant
    │                            for a feature's refusal swallows it
    ├── SignInRequired           hub.web.admin.auth: no live session; the admin's handler
    │                            redirects to the sign-in page (control flow, not a failure)
    ├── _ReplyFailed             hub.inbound.worker (private): a reply of a chunk applied
    │                            without savepoints failed; the chunk is rolled back and
    │                            applied again with a savepoint per reply (control flow)
    ├── Refused                  channels.fakes.aliyun_sms: the fakes play the providers, not
    │                            the hub: each fake's handler answers its refusal as that
    │                            provider's error (here Aliyun's error JSON, its status)
    ├── RequestRefused           channels.fakes.tencent_sms: Tencent's ``Response.Error``
    ├── Refused                  channels.fakes.wechat_api: ``{"errcode", "errmsg"}``
    └── ApiError                 channels.fakes.telegram_api: ``{"ok": false, ...}``, its status

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
