"""The public answer page's link: ``/a/{token}`` (:mod:`hub.web.answer_page`).

An automatic answer sent by SMS (approved templates only, no room for the answer itself) carries
this link; the page shows the question, the answer as sent, its source and how to reach a person.
The token is ``auto_answer.token``: random, URL-safe, the only credential (the page shows nothing
personal beyond the enterprise's own question). Link building lives here, below the inbound
worker that writes the SMS answer and the web page that serves it, as ``rating_url`` lives in
``hub.tickets.feedback`` for the rating page.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

__all__ = ["ANSWER_PATH_PREFIX", "TOKEN_PATTERN", "answer_link", "new_answer_token"]

#: The answer page's path before the token.
ANSWER_PATH_PREFIX: Final = "/a/"
#: What a token looks like; anything else is unknown without a database read.
TOKEN_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{8,64}")


def new_answer_token() -> str:
    """A fresh token for ``auto_answer.token``: 16 URL-safe characters (96 random bits)."""
    return secrets.token_urlsafe(12)


def answer_link(base_url: str, token: str) -> str:
    """The answer page of ``token`` under the hub's public base URL (``web.public_base_url``)."""
    return f"{base_url.rstrip('/')}{ANSWER_PATH_PREFIX}{token}"
