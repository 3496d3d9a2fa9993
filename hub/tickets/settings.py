"""The ``tickets:`` section of config.yaml: routing rules, windows and working-day periods.

Validated at load like every section (:mod:`hub.app.config`: a bad key names its path and
line).
Department codes are checked against the database when a ticket is routed, not here: the
config loads before the database is open.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.core.settings import CalendarSettings, HubSettings
from hub.core.vocab import TicketCategory, Urgency


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TicketRule(_Frozen):
    """One routing rule: every criterion given must match; the first matching rule wins.

    ``keywords`` match when any of them occurs in the request text (after NFKC, ignoring
    case); ``industry`` and ``region`` match the enterprise's exactly; ``category`` the
    ticket's.
    """

    department: str = Field(min_length=1)
    keywords: tuple[str, ...] = ()
    industry: str | None = None
    region: str | None = None
    category: TicketCategory | None = None

    @field_validator("category", mode="before")
    @classmethod
    def _category_by_value_or_label(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return TicketCategory.parse(value)
            except ValueError:
                raise ValueError(
                    f"未知的诉求类别“{value}”，可选：{TicketCategory.choices()}"
                ) from None
        return value

    @field_validator("keywords")
    @classmethod
    def _no_empty_keyword(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not k.strip() for k in value):
            raise ValueError("关键词不能为空 (keywords)")
        return tuple(k.strip() for k in value)

    @model_validator(mode="after")
    def _has_a_criterion(self) -> TicketRule:
        if not (self.keywords or self.industry or self.region or self.category):
            raise ValueError(
                "规则至少需要一个条件：keywords、industry、region 或 category (a rule with no "
                "criterion would take every ticket)"
            )
        return self


class TicketsSettings(_Frozen):
    """How requests become tickets and how long each step of the closed loop may take."""

    # A new message from an enterprise with an open ticket active within this window is
    # appended to it (补充) instead of opening another.
    append_window_hours: float = Field(default=72.0, ge=0)
    default_department: str | None = None
    business_office_department: str | None = None
    rules: tuple[TicketRule, ...] = ()
    rating_reminder_after_workdays: int = Field(default=3, ge=1)
    no_rating_close_after_workdays: int = Field(default=10, ge=1)
    bad_rating_callback_workdays: int = Field(default=1, ge=0)
    rectify_workdays: int = Field(default=15, ge=1)
    remind_before_hours: float = Field(default=24.0, ge=0)
    escalate_after_workdays: int = Field(default=2, ge=1)
    callback_coverage: float = Field(default=0.7, gt=0, le=1)
    sla_every_minutes: float = Field(default=5.0, gt=0)
    rating_link_valid_days: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _close_after_reminder(self) -> TicketsSettings:
        if self.no_rating_close_after_workdays <= self.rating_reminder_after_workdays:
            raise ValueError(
                "no_rating_close_after_workdays 须大于 rating_reminder_after_workdays "
                "(未评价销号须晚于评价提醒)"
            )
        return self


class TicketsConfig(Protocol):
    """What the tickets read from the deployment's settings: the time zone, the admin-entered
    calendar, the deadline classes and the ``tickets:`` section.

    :class:`hub.app.config.Settings` satisfies it structurally; the tickets never need the rest.
    """

    @property
    def hub(self) -> HubSettings: ...

    @property
    def calendar(self) -> CalendarSettings: ...

    @property
    def deadlines(self) -> Mapping[Urgency, int]: ...

    @property
    def tickets(self) -> TicketsSettings: ...
