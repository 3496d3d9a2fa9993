"""Credit events (信用事件) and the rule that turns an enterprise's events into its credit status.

The feeds (信用中国, 国家企业信用信息公示系统) list four kinds of event; only an ``active`` one
counts. The worst active one decides the enterprise's ``CreditStatus``: a dishonesty listing
makes it ``dishonest``, an abnormal-operation listing or an administrative penalty ``warning``,
none ``good``. Pure: the store applies it (``hub.store.record_changes.refresh_credit_status``).
"""

from __future__ import annotations

from collections.abc import Iterable

from hub.core.vocab import CreditStatus, LabelledEnum

__all__ = ["CREDIT_STATUS_BY_TYPE", "CreditEventStatus", "CreditEventType", "credit_status_of"]


class CreditEventType(LabelledEnum):
    """What a credit event records."""

    DISHONEST_DEBTOR = "dishonest_debtor", "失信被执行人"
    ABNORMAL_OPERATION = "abnormal_operation", "经营异常名录"
    ADMIN_PENALTY = "admin_penalty", "行政处罚"
    SERIOUS_DISHONESTY = "serious_dishonesty", "严重违法失信名单"


class CreditEventStatus(LabelledEnum):
    """Whether a credit event still counts: only ``active`` ones set the credit status."""

    ACTIVE = "active", "有效"
    REPAIRED = "repaired", "已修复"
    REMOVED = "removed", "已移出"


CREDIT_STATUS_BY_TYPE: dict[CreditEventType, CreditStatus] = {
    CreditEventType.SERIOUS_DISHONESTY: CreditStatus.DISHONEST,
    CreditEventType.DISHONEST_DEBTOR: CreditStatus.DISHONEST,
    CreditEventType.ABNORMAL_OPERATION: CreditStatus.WARNING,
    CreditEventType.ADMIN_PENALTY: CreditStatus.WARNING,
}
"""The credit status an active event of each type puts its enterprise in."""

_SEVERITY = (CreditStatus.GOOD, CreditStatus.WARNING, CreditStatus.DISHONEST)


def credit_status_of(active_types: Iterable[CreditEventType]) -> CreditStatus:
    """An enterprise's credit status from the types of its active events: the worst one wins,
    ``good`` when none is active."""
    return max(
        (CREDIT_STATUS_BY_TYPE[t] for t in active_types),
        key=_SEVERITY.index,
        default=CreditStatus.GOOD,
    )
