"""Telegram inline keyboards the hub sends, and the callback data their buttons carry.

The hub sends intent (``params["choices"]``, a :class:`~channels.base.Choices`) and this
module draws it: ``rating`` is the five satisfaction levels of ``hub.core.vocab.RATING_LEVELS``
(好差评) in one row, ``visit`` a visit proposal's ``hub.core.vocab.VisitAnswer`` (confirm /
reschedule) for its ``visit_id``, or, when it offers slots, one button per slot ("1 12月8日（周二）
上午9:30", a row each) and 申请改期 below. The older form ``params["keyboard"]`` (``"rating"`` with
``rating_ref``, ``"visit"`` with ``visit_id``) is still drawn: messages queued before the intent
keep their buttons. A press comes back as a callback query whose ``data`` is
:meth:`CallbackData.pack` of :class:`RatingCallback` (``rate:5:<ref>``), :class:`VisitCallback`
(``visit:confirm:42``) or :class:`SlotCallback` (``vslot:2:42``, stored as ``visit:slot:2:42``);
Telegram caps it at 64 bytes, which ``pack`` checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import Field

from channels.base import Choices
from hub.core.errors import UsageError
from hub.core.vocab import RATING_LEVELS, VisitAnswer

VisitAction = Literal["confirm", "reschedule"]


class RatingCallback(CallbackData, prefix="rate"):
    """A satisfaction button: ``level`` 1–5; ``ref`` optionally names what is rated."""

    level: int = Field(ge=1, le=5)
    ref: str | None = None


class VisitCallback(CallbackData, prefix="visit"):
    """A visit proposal's answer: confirm the visit or ask to reschedule it."""

    action: VisitAction
    visit_id: int = Field(ge=1)


class SlotCallback(CallbackData, prefix="vslot"):
    """A visit proposal's slot: ``slot`` its number (1-based) among the times offered."""

    slot: int = Field(ge=1, le=9)
    visit_id: int = Field(ge=1)


#: Every button of the hub's keyboards, as a press's callback data is read back.
Pressed = RatingCallback | VisitCallback | SlotCallback
BUTTONS: Final[tuple[type[Pressed], ...]] = (RatingCallback, VisitCallback, SlotCallback)


class UnknownKeyboard(UsageError):
    """The params ask for choices no keyboard draws, or lack what that keyboard needs."""


def rating_keyboard(ref: str | None = None) -> InlineKeyboardMarkup:
    """The five levels in one row, 5 first: "5 非常满意" … "1 非常不满意"."""
    buttons = [
        InlineKeyboardButton(
            text=f"{level} {label}", callback_data=RatingCallback(level=level, ref=ref).pack()
        )
        for level, label in RATING_LEVELS
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


def visit_keyboard(visit_id: int, slots: Sequence[str] = ()) -> InlineKeyboardMarkup:
    """Confirm / reschedule for one visit, side by side; with ``slots`` (the times offered, as
    shown), one numbered button per slot, a row each, and 申请改期 below them."""
    if slots:
        rows = [
            [InlineKeyboardButton(text=f"{n} {label}",
                                  callback_data=SlotCallback(slot=n, visit_id=visit_id).pack())]
            for n, label in enumerate(slots, start=1)
        ]  # fmt: skip
        reschedule = VisitCallback(action=VisitAnswer.RESCHEDULE.value, visit_id=visit_id)
        rows.append([InlineKeyboardButton(text=VisitAnswer.RESCHEDULE.label,
                                          callback_data=reschedule.pack())])  # fmt: skip
        return InlineKeyboardMarkup(inline_keyboard=rows)
    buttons = [
        InlineKeyboardButton(
            text=answer.label,
            callback_data=VisitCallback(action=answer.value, visit_id=visit_id).pack(),
        )
        for answer in VisitAnswer
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


def keyboard_for(params: Mapping[str, Any]) -> InlineKeyboardMarkup | None:
    """The keyboard a message's params ask for; None when they ask for none.

    Raises :class:`UnknownKeyboard` for choices this module does not know, or a visit keyboard
    without a usable ``visit_id``: sending such a message without its buttons would ask a
    question nobody can answer.
    """
    choices = _choices(params)
    if choices is None:
        return None
    if choices.kind == "rating":
        try:
            return rating_keyboard(choices.ref)
        except ValueError as exc:  # a ':' in ref, or more than 64 bytes of callback data
            raise UnknownKeyboard(
                f"评价键盘的编号 (rating_ref) 无法放入按钮: {choices.ref!r}"
            ) from exc
    if choices.visit_id is None:
        raise UnknownKeyboard("走访确认键盘缺少走访编号 (visit_id)")
    return visit_keyboard(choices.visit_id, choices.slots)


def _choices(params: Mapping[str, Any]) -> Choices | None:
    """The intent (``params["choices"]``), or the older ``params["keyboard"]`` read as one."""
    name = params.get("keyboard")
    if not name:
        try:
            return Choices.from_params(params)
        except (TypeError, ValueError) as exc:
            raise UnknownKeyboard(f"未知的 Telegram 键盘 (choices): {exc}") from None
    if name == "rating":
        ref = params.get("rating_ref")
        return Choices("rating", ref=None if ref is None else str(ref))
    if name == "visit":
        try:
            return Choices("visit", visit_id=int(params["visit_id"]))
        except (KeyError, TypeError, ValueError):
            raise UnknownKeyboard("走访确认键盘缺少走访编号 (visit_id)") from None
    raise UnknownKeyboard(f"未知的 Telegram 键盘 (keyboard): {name!r}")


def reply_text(data: Pressed) -> str:
    """The text a button press is stored as: ``rating:5``, ``visit:confirm:42`` or
    ``visit:slot:2:42``."""
    if isinstance(data, RatingCallback):
        return f"rating:{data.level}"
    if isinstance(data, SlotCallback):
        return f"visit:slot:{data.slot}:{data.visit_id}"
    return f"visit:{data.action}:{data.visit_id}"
