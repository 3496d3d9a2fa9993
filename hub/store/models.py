"""Every table, imported in one place so the metadata is complete (Alembic, tests)."""

from hub.store.base import Base
from hub.store.messaging import (
    Campaign,
    DeliveryAttempt,
    InboundReply,
    Message,
    Schedule,
    ScheduleRun,
    ScheduleVersion,
    Template,
    TemplateVersion,
)
from hub.store.registry import (
    Contact,
    ContactOptOut,
    CreditRecord,
    Department,
    Enterprise,
    EnterpriseTag,
    Officer,
    Policy,
    Staff,
    Visit,
)
from hub.store.tickets import AuditLog, Rating, Ticket, TicketEvent, WorkdayOverride

__all__ = [
    "AuditLog",
    "Base",
    "Campaign",
    "Contact",
    "ContactOptOut",
    "CreditRecord",
    "DeliveryAttempt",
    "Department",
    "Enterprise",
    "EnterpriseTag",
    "InboundReply",
    "Message",
    "Officer",
    "Policy",
    "Rating",
    "Schedule",
    "ScheduleRun",
    "ScheduleVersion",
    "Staff",
    "Template",
    "TemplateVersion",
    "Ticket",
    "TicketEvent",
    "Visit",
    "WorkdayOverride",
]
