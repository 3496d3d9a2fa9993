"""The scenario of the simulated year 2027: a registry of every tier, credit events, policies,
licences and annual-report filings, each arriving on a given day, and the 2027 calendar.

Plain data, and what the test expects from it computed here from the data alone (never by the
programs' own helpers), so that the test can fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from hub.core.credit import CreditEventType
from hub.core.settings import CalendarSettings, YearCalendar
from hub.core.vocab import Stage, Tier
from tests.seed import SeedEnterprise


def _days(first: date, last: date) -> tuple[date, ...]:
    return tuple(first + timedelta(days=n) for n in range((last - first).days + 1))


# 2027 as an admin enters it with `hub calendar` / config.yaml `calendar.years` (chinese-calendar
# stops at 2026): the statutory holidays and the weekend make-up workdays.
CALENDAR_2027 = CalendarSettings(
    years={
        2027: YearCalendar(
            holidays=(
                *_days(date(2027, 1, 1), date(2027, 1, 3)),  # 元旦
                *_days(date(2027, 2, 6), date(2027, 2, 14)),  # 春节
                *_days(date(2027, 4, 3), date(2027, 4, 5)),  # 清明
                *_days(date(2027, 5, 1), date(2027, 5, 5)),  # 劳动节
                *_days(date(2027, 6, 9), date(2027, 6, 11)),  # 端午
                date(2027, 9, 15),  # 中秋
                *_days(date(2027, 10, 1), date(2027, 10, 7)),  # 国庆
            ),
            workdays=(
                date(2027, 2, 20),
                date(2027, 4, 25),
                date(2027, 5, 8),
                date(2027, 6, 12),
                date(2027, 9, 26),
                date(2027, 10, 9),
            ),
        )
    }
)

INDUSTRIES = ("制造业", "批发和零售业", "信息传输、软件和信息技术服务业", "建筑业")
REGIONS = ("龙沙区", "建华区", "铁锋区")
STAGES = (Stage.OPERATING, Stage.OPERATING, Stage.STARTUP, Stage.EXITING)
TAG_SETS: tuple[tuple[str, ...], ...] = (
    ("专精特新",), ("小微企业",), ("高新技术企业", "专精特新"), (), ("个体工商户",),
)  # fmt: skip
TIERS = (Tier.KEY, Tier.GENERAL, Tier.ORDINARY)
OFFICERS = ("LL001", "LL002", None, None)
SIZE = 36


def registry() -> tuple[SeedEnterprise, ...]:
    """36 enterprises: 12 per tier, four industries, three regions, stages, tags; half with a
    liaison officer (LL001 or LL002); one contact each."""
    return tuple(
        SeedEnterprise(
            name=f"企业{i:02d}",
            tier=TIERS[i % 3],
            industry=INDUSTRIES[i % 4],
            region=REGIONS[(i // 4) % 3],
            tags=TAG_SETS[i % 5],
            stage=STAGES[(i // 3) % 4],
            officer=OFFICERS[i % 4],
            mobiles=(f"+86139{i:08d}",),
        )
        for i in range(SIZE)
    )


@dataclass(frozen=True)
class Event:
    event_id: str
    enterprise: int  # index into registry()
    type: CreditEventType
    arrives: date  # imported (active) that morning; decided a few days earlier
    repaired: date | None = None  # imported as repaired that morning
    reimported: date | None = None  # the same active row imported again that morning


EVENTS = (
    Event("E01", 0, CreditEventType.ADMIN_PENALTY, date(2027, 1, 12), date(2027, 3, 2)),
    Event("E02", 4, CreditEventType.ABNORMAL_OPERATION, date(2027, 2, 7)),  # 春节: a holiday
    Event("E03", 7, CreditEventType.DISHONEST_DEBTOR, date(2027, 3, 15), date(2027, 5, 2)),
    Event("E04", 9, CreditEventType.SERIOUS_DISHONESTY, date(2027, 4, 20), None, date(2027, 4, 21)),
    Event("E05", 12, CreditEventType.ADMIN_PENALTY, date(2027, 6, 14), date(2027, 6, 15)),
    Event("E06", 18, CreditEventType.ABNORMAL_OPERATION, date(2027, 6, 15), date(2027, 9, 1)),
    Event("E07", 21, CreditEventType.ADMIN_PENALTY, date(2027, 8, 8)),  # a Sunday
    Event("E08", 24, CreditEventType.DISHONEST_DEBTOR, date(2027, 10, 3), date(2027, 12, 20)),
    Event("E09", 30, CreditEventType.ADMIN_PENALTY, date(2027, 11, 9), None, date(2027, 12, 1)),
    Event("E10", 3, CreditEventType.ABNORMAL_OPERATION, date(2027, 12, 28), date(2027, 12, 30)),
)


@dataclass(frozen=True)
class PolicySpec:
    policy_id: str
    arrives: date
    industries: tuple[str, ...] = ()
    tiers: tuple[Tier, ...] = ()
    regions: tuple[str, ...] = ()
    stages: tuple[Stage, ...] = ()
    tags: tuple[str, ...] = ()
    apply_by: date | None = None
    free_apply: bool = False
    changed: date | None = None  # re-imported with a later deadline that morning


def _policies() -> tuple[PolicySpec, ...]:
    start = date(2027, 1, 6)
    shapes: tuple[dict[str, object], ...] = (
        {},
        {"industries": ("制造业",)},
        {"tiers": (Tier.KEY,)},
        {"regions": ("龙沙区",), "tags": ("专精特新",)},
        {"stages": (Stage.STARTUP,)},
        {"tags": ("小微企业", "个体工商户")},
        {"industries": ("制造业", "建筑业"), "tiers": (Tier.KEY, Tier.GENERAL)},
        {"regions": ("铁锋区",), "free_apply": True},
        {"tags": ("高新技术企业",), "apply_by": date(2027, 12, 31)},
        {"tiers": (Tier.ORDINARY,), "stages": (Stage.EXITING,)},
        {"industries": ("信息传输、软件和信息技术服务业",), "changed": True},
        {"regions": ("建华区", "铁锋区"), "tiers": (Tier.GENERAL,)},
        {"tags": ("专精特新",), "stages": (Stage.OPERATING,)},
        {"industries": ("批发和零售业",), "regions": ("龙沙区",)},
        {"apply_by": date(2027, 1, 31)},  # closed before it arrives: goes to nobody
        {"tiers": (Tier.KEY,), "tags": ("高新技术企业",)},
        {"industries": ("农业",)},  # no enterprise of that industry
        {"stages": (Stage.OPERATING, Stage.STARTUP), "regions": ("龙沙区",)},
        {"tags": ("个体工商户",), "free_apply": True},
        {"tiers": (Tier.GENERAL, Tier.ORDINARY), "industries": ("建筑业",)},
    )
    found = []
    for n, shape in enumerate(shapes):
        arrives = start + timedelta(days=17 * n + (n % 3))
        changed = arrives + timedelta(days=40) if shape.pop("changed", False) else None
        found.append(PolicySpec(f"P{n + 1:02d}", arrives, changed=changed, **shape))  # type: ignore[arg-type]
    return tuple(found)


POLICIES = _policies()


def eligible(policy: PolicySpec, seed: SeedEnterprise) -> bool:
    """Whether ``policy`` is for ``seed``: each listed field must hold (tags: any one)."""
    if policy.apply_by is not None and policy.apply_by < policy.arrives:
        return False
    return (
        (not policy.industries or seed.industry in policy.industries)
        and (not policy.tiers or seed.tier in policy.tiers)
        and (not policy.regions or seed.region in policy.regions)
        and (not policy.stages or seed.stage in policy.stages)
        and (not policy.tags or bool(set(policy.tags) & set(seed.tags)))
    )


@dataclass(frozen=True)
class LicenceSpec:
    number: str
    enterprise: int
    expires: date
    renewed: date | None = None  # a renewal (renewed_on) imported that morning


LICENCES = (
    LicenceSpec("L01", 1, date(2027, 3, 20)),
    LicenceSpec("L02", 2, date(2027, 4, 12), date(2027, 3, 20)),  # renewed between 30d and 7d
    LicenceSpec("L03", 5, date(2027, 5, 8)),  # 7d falls on 1 May, a holiday
    LicenceSpec("L04", 8, date(2027, 6, 30), date(2027, 5, 5)),  # renewed before 30d
    LicenceSpec("L05", 10, date(2027, 7, 15)),
    LicenceSpec("L06", 13, date(2027, 8, 31)),
    LicenceSpec("L07", 16, date(2027, 9, 30), date(2027, 9, 29)),  # renewed after the 7d one
    LicenceSpec("L08", 19, date(2027, 10, 14)),  # 7d falls in 国庆
    LicenceSpec("L09", 22, date(2027, 11, 30), date(2027, 9, 20)),  # renewed before 60d
    LicenceSpec("L10", 25, date(2027, 12, 20)),
    LicenceSpec("L11", 28, date(2028, 2, 10)),  # 60d in December, 30d/7d next year
)
LICENCE_OFFSETS = (60, 30, 7)  # schedules/procedure_reminder.yaml licence_days


def licence_reminders(spec: LicenceSpec) -> dict[int, date]:
    """The offsets reminded in 2027 and the day each goes out (imported before the year)."""
    found = {}
    for offset in LICENCE_OFFSETS:
        day = spec.expires - timedelta(days=offset)
        if day.year == 2027 and (spec.renewed is None or day < spec.renewed):
            found[offset] = day
    return found


# Annual reports for 2026, filed 1 Jan - 30 Jun 2027. Filings imported before the year start
# nothing; others are imported on the morning of the given day.
FILED_BEFORE_THE_YEAR = date(2026, 12, 30)
ANNUAL_STEPS = {
    "jan": date(2027, 1, 1), "may": date(2027, 5, 1), "june-w1": date(2027, 6, 1),
    "june-w2": date(2027, 6, 8), "june-w3": date(2027, 6, 15), "june-w4": date(2027, 6, 22),
    "june-w5": date(2027, 6, 29),
}  # fmt: skip
FILING_DAYS = (FILED_BEFORE_THE_YEAR, date(2027, 3, 10), date(2027, 6, 10), date(2027, 6, 8), None)


def filing_day(enterprise: int) -> date | None:
    """When enterprise ``enterprise`` files its 2026 report (None: never)."""
    return FILING_DAYS[enterprise % len(FILING_DAYS)]


def annual_reminders(enterprise: int) -> set[str]:
    """The steps an enterprise is reminded at: those begun before its filing is imported."""
    filed = filing_day(enterprise)
    return {step for step, first in ANNUAL_STEPS.items() if filed is None or first < filed}
