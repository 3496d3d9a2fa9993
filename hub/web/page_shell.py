"""What the hub's public HTML pages share: the rating page (``/r/{token}``) and the credit
report page (``/reports/credit/{token}``). Both are opened from a link in a message, without
login: their head keeps search engines out, and their answers are never cached (they show one
link-holder's data, or a form for one use)."""

from __future__ import annotations

from typing import Final

import jinja2
from fastapi.responses import HTMLResponse

__all__ = ["HEAD", "PAGE_ENV", "page_response"]

#: Autoescaped, and a variable a page forgot is an error, not an empty string.
PAGE_ENV: Final = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
#: The start of every page up to its title (``title`` is the template's variable); the page
#: adds its style and closes the head.
HEAD: Final = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{ title }}</title>
"""


def page_response(html: str, status: int) -> HTMLResponse:
    """A page's answer: never cached."""
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
