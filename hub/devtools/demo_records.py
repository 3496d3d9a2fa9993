"""The demo's enterprise data (一企一档) beyond the registry: credit events, policies, licences and
annual-report filings, for ``hub demo`` to import like any clerk's file.

Every date is counted from ``today`` (the day of the injected clock, in the hub's zone), so the
demo is true whatever day it is loaded: licences expire 3 to 300 days ahead (some inside the
60/30/7-day reminder steps, some renewed), policy deadlines lie ahead, credit events fall in
the half-year the next credit report covers and in the last weeks, annual reports are filed as
the filing season goes. Loaded twice on one day, the rows are the same, so nothing changes.

Rows name the enterprises of :func:`hub.devtools.demo_data.demo_enterprises` in registry order
(the first key enterprise, the first in an industry, ...), so they name the same enterprises
for any ``--enterprises`` count large enough, and still fit a tiny registry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta

from hub.devtools.demo_data import CITY
from hub.devtools.demo_policy_texts import policy_text
from hub.scheduling.programs.credit_report import HalfYear

__all__ = [
    "POLICY_URL",
    "demo_annual_reports",
    "demo_credit_events",
    "demo_licences",
    "demo_policies",
    "unique_enterprises",
]

POLICY_URL = "https://zwfw.example.gov.cn/zc/{policy_id}"
_MARKET = "市场监督管理局"


def unique_enterprises(rows: Iterable[Mapping[str, str]]) -> list[Mapping[str, str]]:
    """One row per enterprise (a second contact repeats the enterprise's row), in order."""
    seen: dict[str, Mapping[str, str]] = {}
    for row in rows:
        seen.setdefault(row["uscc"], row)
    return list(seen.values())


class _Picker:
    """Enterprises in registry order, each handed out once while unused ones remain."""

    def __init__(self, enterprises: Sequence[Mapping[str, str]]) -> None:
        self.enterprises = list(enterprises)
        self.used: set[str] = set()
        self.turn = 0

    def pick(self, *, tier: str = "", industries: Sequence[str] = ()) -> Mapping[str, str]:
        """The first unused enterprise of the tier and industries asked for; else the first
        unused one; else (a registry smaller than the data) the next one in turn."""

        def fits(enterprise: Mapping[str, str]) -> bool:
            return (not tier or enterprise["tier"] == tier) and (
                not industries or enterprise["industry"] in industries
            )

        for strict in (True, False):
            for enterprise in self.enterprises:
                if enterprise["uscc"] not in self.used and (fits(enterprise) or not strict):
                    self.used.add(enterprise["uscc"])
                    return enterprise
        enterprise = self.enterprises[self.turn % len(self.enterprises)]
        self.turn += 1
        return enterprise


def _market_authority(enterprise: Mapping[str, str]) -> str:
    """The district's (county's) market regulator: 齐齐哈尔市龙沙区市场监督管理局, 讷河市…."""
    region = enterprise["region"]
    return (CITY + region if region.endswith("区") else region) + _MARKET


def _court(enterprise: Mapping[str, str]) -> str:
    region = enterprise["region"]
    return (CITY + region if region.endswith("区") else region) + "人民法院"


def _iso(day: date | None) -> str:
    return day.isoformat() if day is not None else ""


# (type, tier wanted, decided: ("period"|"today", days), summary, status, repaired days later)
_EVENTS = (
    ("abnormal_operation", "key", ("period", 20), "通过登记的住所或者经营场所无法联系",
     "active", None),
    ("admin_penalty", "key", ("period", 45), "未按规定公示即时信息", "repaired", 75),
    ("serious_dishonesty", "key", ("period", 60), "提交虚假材料取得变更登记", "active", None),
    ("admin_penalty", "key", ("before", 90), "发布虚假广告，夸大产品功效", "active", None),
    ("dishonest_debtor", "general", ("today", 3), "未履行生效判决确定的给付义务",
     "active", None),
    ("admin_penalty", "general", ("today", 5), "使用未经定期检验的特种设备", "active", None),
    ("abnormal_operation", "ordinary", ("today", 30), "未按规定期限公示年度报告",
     "active", None),
    ("abnormal_operation", "ordinary", ("today", 400), "未按规定期限公示年度报告",
     "removed", 200),
    ("dishonest_debtor", "general", ("today", 300), "拖欠货款未按判决履行", "repaired", 200),
    ("serious_dishonesty", "ordinary", ("today", 500), "", "removed", 380),
)  # fmt: skip
_AUTHORITIES = {
    "abnormal_operation": _market_authority,
    "serious_dishonesty": lambda e: f"{CITY}{_MARKET}",
    "dishonest_debtor": _court,
    "admin_penalty": _market_authority,
}


def demo_credit_events(
    enterprises: Sequence[Mapping[str, str]], today: date
) -> list[dict[str, str]]:
    """Credit events of each type, active, repaired and removed (``hub import credit``).

    Some are decided in the half-year the next credit report covers (so key enterprises'
    reports list them), one before it and still active, others in the last weeks (each
    active one gets its warning) or long ago and closed since.
    """
    if not enterprises:
        return []
    period = HalfYear.reported_on(today)
    picker = _Picker(enterprises)
    rows = []
    previous: Mapping[str, str] | None = None
    for n, (kind, tier, (base, days), summary, status, repaired) in enumerate(_EVENTS, start=1):
        # The first two events are one key enterprise's: its report lists an active listing
        # and a repaired penalty.
        enterprise = previous if n == 2 and previous else picker.pick(tier=tier)
        previous = enterprise
        decided = {
            "period": period.first_day + timedelta(days=days),
            "before": period.first_day - timedelta(days=days),
            "today": today - timedelta(days=days),
        }[base]
        closed = decided + timedelta(days=repaired) if repaired is not None else None
        rows.append({
            "event_id": f"DEMO-XY-{n:03d}", "uscc": enterprise["uscc"], "type": kind,
            "authority": _AUTHORITIES[kind](enterprise), "decided_on": decided.isoformat(),
            "summary": summary, "status": status, "repaired_on": _iso(closed),
        })  # fmt: skip
    return rows


_GXJ, _KJJ, _SWJ, _RSJ = "工业和信息化局", "科学技术局", "商务局", "人力资源和社会保障局"
_MANUFACTURING, _FARMING = "制造业", "农、林、牧、渔业"
_TECH = "信息传输、软件和信息技术服务业;科学研究和技术服务业"
# (title, department, summary, days to the deadline or None, free_apply,
#  industries, tiers, regions, stages, tags)
_POLICIES = (
    ("专精特新中小企业奖补", _GXJ,
     "对新认定的省级专精特新中小企业一次性奖励20万元，国家级专精特新“小巨人”企业奖励50万元",
     60, False, _MANUFACTURING, "", "", "", "专精特新"),
    ("规上工业企业稳增长奖励", _GXJ,
     "对年度产值增长10%以上的规上工业企业按增量给予奖励，依统计数据直接兑现", 90, True,
     _MANUFACTURING, "", "", "", "规上企业"),
    ("高新技术企业认定奖励", _KJJ, "对首次认定的高新技术企业奖励10万元，重新认定的奖励5万元",
     None, True, "", "", "", "", "高新技术企业"),
    ("科技型中小企业研发费用后补助", _KJJ,
     "按上年度研发费用加计扣除额的10%给予后补助，单户最高50万元", 75, False,
     "", "", "", "", "科技型中小企业"),
    ("创业担保贷款贴息", _RSJ,
     "小微企业最高可申请300万元、个体工商户最高30万元创业担保贷款，财政按规定贴息", 120,
     False, "", "", "", "", "小微企业;个体工商户"),
    ("首贷户贷款贴息", "地方金融监督管理局", "对首次获得银行贷款的企业按贷款利息的30%给予贴息",
     45, False, "", "", "", "", "首贷户"),
    ("外贸企业出口信用保险保费补贴", _SWJ, "对企业投保短期出口信用保险的保费给予50%补贴", 30,
     False, "", "", "", "", "外贸企业"),
    ("稳岗返还", _RSJ,
     "上年度未裁员或裁员率不高于规定比例的参保企业，按实际缴纳失业保险费的60%返还", None,
     True, "", "key;general", "", "operating", ""),
    ("农业产业化龙头企业贷款贴息", "农业农村局",
     "对农业产业化龙头企业用于收购农产品的流动资金贷款给予贴息", 90, False,
     _FARMING, "", "", "", ""),
    ("新开办企业免费刻制公章", "营商环境建设监督局",
     "新开办企业首套公章由政府购买服务免费刻制，登记时一并办理", None, True,
     "", "", "", "startup", ""),
    ("批发零售企业促消费活动补贴", _SWJ,
     "对参加全市促消费活动、限额以上批发零售企业给予活动费用补贴", 20, False,
     "批发和零售业", "key;general", "", "", ""),
    ("住宿餐饮企业纾困补助", "文化广电和旅游局",
     "对吸纳就业稳定的住宿餐饮企业按在岗职工人数给予一次性补助", 40, False,
     "住宿和餐饮业", "", "", "", ""),
    ("建筑业企业资质升级奖励", "住房和城乡建设局",
     "对首次晋升施工总承包一级资质的企业奖励50万元", 100, False, "建筑业", "", "", "", ""),
    ("冷链物流设施建设补助", "交通运输局", "对新建冷库和冷链配送设施按投资额的20%给予补助",
     150, False, "交通运输、仓储和邮政业", "", "", "", ""),
    ("科技人才引进生活补贴", _KJJ,
     "对引进的全日制硕士以上科技人才按月发放生活补贴，最长三年", 80, False,
     _TECH, "", "", "", ""),
    ("招商引资项目落地奖励", "发展和改革委员会",
     "对当年竣工投产的招商引资项目按固定资产投资额给予奖励", 180, False,
     "", "", "", "", "招商引资项目"),
    ("富拉尔基区工业企业技术改造补助", "富拉尔基区工业和信息化局",
     "对设备投资500万元以上的技术改造项目按设备投资的8%给予补助", 60, False,
     _MANUFACTURING, "", "富拉尔基区", "", ""),
    ("讷河市农产品加工企业用电补贴", "讷河市发展和改革局",
     "对农产品加工企业生产用电每千瓦时补贴0.05元", 90, False,
     f"{_MANUFACTURING};{_FARMING}", "", "讷河市", "", ""),
    ("重点企业用工服务专项行动", _RSJ,
     "为重点企业提供招聘对接、岗前培训补贴和社保补贴，由人社部门按企业用工需求直接对接",
     None, True, "", "key", "龙沙区;建华区;铁锋区", "", ""),
    ("中心城区个体工商户房租补贴", _SWJ,
     "对在中心城区经营、年营业额100万元以下的个体工商户给予三个月房租补贴", 35, False,
     "", "ordinary", "龙沙区;建华区;铁锋区", "", "个体工商户"),
)  # fmt: skip


def demo_policies(today: date) -> list[dict[str, str]]:
    """Twenty policies of the city's departments with varied eligibility (``hub import
    policies``): by industry, tier, region, stage or tag, five of them 免申即享, deadlines
    20 to 180 days ahead (or none)."""
    rows = []
    for n, policy in enumerate(_POLICIES, start=1):
        title, department, summary, days, free, industries, tiers, regions, stages, tags = policy
        policy_id = f"DEMO-ZC-{n:03d}"
        office = (
            department if department.startswith(("富拉尔基区", "讷河市")) else CITY + department
        )
        apply_by = today + timedelta(days=days) if days is not None else None
        how = (
            "符合条件的企业无需申请，由主管部门直接兑现。"
            if free
            else "请在申报截止前通过政务服务网提交申请。"
        )
        rows.append({
            "policy_id": policy_id, "title": title, "summary": summary, "department": office,
            "apply_by": _iso(apply_by), "free_apply": "是" if free else "否",
            "url": POLICY_URL.format(policy_id=policy_id), "industries": industries,
            "tiers": tiers, "regions": regions, "stages": stages, "tags": tags,
            "text": policy_text(title, office, summary, how, apply_by),
        })  # fmt: skip
    return rows


# (kind, industries it belongs to, number prefix, authority, days to expiry, renewed days ago)
_LICENCES = (
    ("食品经营许可证", ("住宿和餐饮业", "批发和零售业"), "JY1230202", _MARKET, 5, None),
    ("道路运输经营许可证", ("交通运输、仓储和邮政业",), "黑交运管许可齐字", "交通运输局", 6, None),
    ("排污许可证", (_MANUFACTURING,), "PW230200", "生态环境局", 18, None),
    ("食品生产许可证", (_MANUFACTURING,), "SC1062302", _MARKET, 25, None),
    ("建筑业企业资质证书", ("建筑业",), "D223", "住房和城乡建设局", 40, None),
    ("安全生产许可证", ("建筑业",), "黑JZ安许证字", "住房和城乡建设局", 55, None),
    ("药品经营许可证", ("批发和零售业",), "黑AA452", _MARKET, 61, None),
    ("食品经营许可证", ("住宿和餐饮业",), "JY2230203", _MARKET, 75, None),
    ("危险化学品经营许可证", ("批发和零售业",), "黑齐危化经字", "应急管理局", 100, None),
    ("取水许可证", (_FARMING,), "D230281", "水务局", 150, None),
    ("工业产品生产许可证", (_MANUFACTURING,), "XK13-", _MARKET, 200, None),
    ("人力资源服务许可证", ("租赁和商务服务业",), "230202", "人力资源和社会保障局", 300, None),
    ("食品经营许可证", ("住宿和餐饮业",), "JY2230204", _MARKET, 20, 10),
    ("道路运输经营许可证", ("交通运输、仓储和邮政业",), "黑交运管许可齐字", "交通运输局", 8, 30),
)  # fmt: skip


def _digits(seed: str, count: int) -> str:
    """``count`` digits drawn from ``seed``: a licence number that stays the same."""
    value = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    return str(value)[:count]


def demo_licences(enterprises: Sequence[Mapping[str, str]], today: date) -> list[dict[str, str]]:
    """Licences expiring 5 to 300 days ahead (``hub import licences``): some inside the
    60/30/7-day steps of ``procedure_reminders``, some later, two renewed already."""
    if not enterprises:
        return []
    picker = _Picker(enterprises)
    rows = []
    for kind, industries, prefix, authority, days, renewed in _LICENCES:
        enterprise = picker.pick(industries=industries)
        number = prefix + _digits(enterprise["uscc"] + kind, 18 - len(prefix))
        issuer = authority if authority.endswith("局") and authority != _MARKET else ""
        rows.append({
            "uscc": enterprise["uscc"], "kind": kind, "number": number,
            "expires_on": (today + timedelta(days=days)).isoformat(),
            "authority": CITY + issuer if issuer else _market_authority(enterprise),
            "renewed_on": _iso(today - timedelta(days=renewed) if renewed is not None else None),
        })  # fmt: skip
    return rows


_FILED_SHARE = 0.9  # enterprises that file their annual report in the season


def _rank(uscc: str, year: int) -> float:
    """A number in [0, 1) fixed per enterprise and year: when in the season it files."""
    digest = hashlib.sha256(f"{uscc}/{year}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def demo_annual_reports(
    enterprises: Sequence[Mapping[str, str]], today: date
) -> list[dict[str, str]]:
    """Annual-report filings (``hub import annual-reports``) for the last two years.

    An enterprise files year X between 1 January and 30 June of X+1: nine in ten do, each on a
    day of its own in the season, so the filings of the current season grow as it goes (a row
    once there never changes) and one in ten never files (the annual reminders' audience).
    """
    rows = []
    for year in (today.year - 2, today.year - 1):
        season = date(year + 1, 1, 1)
        for enterprise in enterprises:
            rank = _rank(enterprise["uscc"], year)
            if rank >= _FILED_SHARE:
                continue
            filed_on = season + timedelta(days=int(rank / _FILED_SHARE * 180))
            if filed_on <= today:
                rows.append(
                    {
                        "uscc": enterprise["uscc"],
                        "year": str(year),
                        "filed_on": filed_on.isoformat(),
                    }
                )
    return rows
