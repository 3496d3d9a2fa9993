"""Telegram inline keyboards the hub sends, and the callback data their buttons carry.

Two keyboards exist: the five satisfaction levels (好差评, ``params["keyboard"] == "rating"``)
and a visit proposal's confirm / reschedule (``"visit"``, with ``params["visit_id"]``). A press
comes back as a callback query whose ``data`` is :meth:`CallbackData.pack` of
:class:`RatingCallback` (``rate:5:<ref>``) or :class:`VisitCallback`
(``visit:confirm:42``); Telegram caps it at 64 bytes, which ``pack`` checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import Field

from hub.core.errors import UsageError

#: The five levels, best first, exactly as every rating prompt prints them (docs/design.md).
RATING_LABELS: Final[tuple[tuple[int, str], ...]] = (
    (5, "5 非常满意"),
    (4, "4 满意"),
    (3, "3 基本满意"),
    (2, "2 不满意"),
    (1, "1 非常不满意"),
)
VISIT_LABELS: Final[tuple[tuple[Literal["confirm", "reschedule"], str], ...]] = (
    ("confirm", "确认走访"),
    ("reschedule", "申请改期"),
)

VisitAction = Literal["confirm", "reschedule"]


class RatingCallback(CallbackData, prefix="rate"):
    """A satisfaction button: ``level`` 1–5; ``ref`` optionally names what is rated."""

    level: int = Field(ge=1, le=5)
    ref: str | None = None


class VisitCallback(CallbackData, prefix="visit"):
    """A visit proposal's answer: confirm the visit or ask to reschedule it."""

    action: VisitAction
    visit_id: int = Field(ge=1)


class UnknownKeyboard(UsageError):
    """``params["keyboard"]`` names no keyboard, or lacks what that keyboard needs."""


def rating_keyboard(ref: str | None = None) -> InlineKeyboardMarkup:
    """The five levels in one row, 5 first."""
    buttons = [
        InlineKeyboardButton(text=label, callback_data=RatingCallback(level=level, ref=ref).pack())
        for level, label in RATING_LABELS
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


def visit_keyboard(visit_id: int) -> InlineKeyboardMarkup:
    """Confirm / reschedule for one visit, side by side."""
    buttons = [
        InlineKeyboardButton(
            text=label, callback_data=VisitCallback(action=action, visit_id=visit_id).pack()
        )
        for action, label in VISIT_LABELS
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


def keyboard_for(params: Mapping[str, Any]) -> InlineKeyboardMarkup | None:
    """The keyboard a message's params ask for; None when they ask for none.

    Raises :class:`UnknownKeyboard` for a name this module does not know, or a visit keyboard
    without a usable ``visit_id``: sending such a message without its buttons would ask a
    question nobody can answer.
    """
    name = params.get("keyboard")
    if not name:
        return None
    if name == "rating":
        ref = params.get("rating_ref")
        try:
            return rating_keyboard(str(ref) if ref is not None else None)
        except ValueError as exc:  # a ':' in ref, or more than 64 bytes of callback data
            raise UnknownKeyboard(f"评价键盘的编号 (rating_ref) 无法放入按钮: {ref!r}") from exc
    if name == "visit":
        try:
            visit_id = int(params["visit_id"])
        except (KeyError, TypeError, ValueError):
            raise UnknownKeyboard("走访确认键盘缺少走访编号 (visit_id)") from None
        return visit_keyboard(visit_id)
    raise UnknownKeyboard(f"未知的 Telegram 键盘 (keyboard): {name!r}")


def reply_text(data: RatingCallback | VisitCallback) -> str:
    """The text a button press is stored as: ``rating:5`` or ``visit:confirm:42``."""
    if isinstance(data, RatingCallback):
        return f"rating:{data.level}"
    return f"visit:{data.action}:{data.visit_id}"
