"""Deterministic demo and benchmark data: departments, liaison officers (联络员) and enterprises.

Every row is a plain ``dict[str, str]`` keyed by the English column names that ``hub import``
accepts (docs/design.md, "What other systems rely on"), so rows can be written to CSV or XLSX and
fed to the importer unchanged. The city is 齐齐哈尔 (Heilongjiang). Names, codes and numbers are
made up, but every USCC carries valid check characters and every mobile lies in a real mainland
range.

Enterprise USCCs, names and mobiles are unique for any ``count`` up to millions: USCC organisation
codes and mobiles come from seeded affine permutations of a counter, names are re-drawn on clash.
About 5% of enterprises get a second contact, emitted as an extra row that repeats every
enterprise field (docs/design.md: "rows repeating a USCC add contacts when the enterprise fields
agree").
"""

from __future__ import annotations

import base64
import bisect
import csv
import itertools
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from math import gcd
from os import PathLike
from typing import Generic, TypeVar

from hub.core.vocab import DepartmentRole, Stage, Tier

ENTERPRISE_COLUMNS = (
    "uscc", "name", "tier", "industry", "region", "stage", "tags", "contact_name", "mobile",
    "wechat_openid", "wecom_userid", "telegram_chat_id", "officer",
)  # fmt: skip
DEPARTMENT_COLUMNS = (
    "code", "name", "role", "industries", "head_name", "head_mobile", "head_wecom_userid",
)  # fmt: skip
OFFICER_COLUMNS = (
    "code", "name", "mobile", "wecom_userid", "telegram_chat_id", "region", "department",
)  # fmt: skip

CITY = "齐齐哈尔市"
#: The demo staff's password for the web admin (/admin/), printed by ``hub demo``: a demo only.
DEMO_PASSWORD = "hub-demo-2026"
# region -> (administrative division code, weight in the registry)
REGIONS: dict[str, tuple[str, int]] = {
    "龙沙区": ("230202", 18), "建华区": ("230203", 17), "铁锋区": ("230204", 15),
    "昂昂溪区": ("230205", 5), "富拉尔基区": ("230206", 10), "碾子山区": ("230207", 3),
    "梅里斯区": ("230208", 5), "龙江县": ("230221", 12), "讷河市": ("230281", 15),
}  # fmt: skip

# industry (GB/T 4754 section) -> (weight, business phrases used in company names)
INDUSTRIES: dict[str, tuple[int, str]] = {
    "制造业": (18, "精密机械制造 重型装备制造 铸造 汽车零部件 农机制造 食品 乳业 酿酒 化工 "
                  "电气设备 钢结构 新型建材 生物制药 包装制品"),
    "批发和零售业": (23, "商贸 经贸 农资 医药连锁 粮油贸易 五金机电 建材销售 汽车销售 超市 "
                        "果蔬批发"),
    "建筑业": (8, "建筑工程 建设工程 路桥工程 市政工程 装饰工程 水利工程 安装工程 防水工程"),
    "信息传输、软件和信息技术服务业": (4, "网络科技 软件开发 信息技术 数据科技 智能科技 通信工程"),
    "住宿和餐饮业": (9, "餐饮管理 酒店管理 烤肉餐饮 饮食服务 火锅餐饮 宾馆服务"),
    "交通运输、仓储和邮政业": (6, "物流 运输 冷链物流 仓储服务 货运代理 快递服务 客运"),
    "农、林、牧、渔业": (10, "农业开发 牧业 养殖 种业 现代农业 绿色农业 水稻种植 大豆种植 渔业"),
    "科学研究和技术服务业": (3, "检测技术 环境科技 生物科技 农业科技 工程设计 勘察设计 技术服务"),
    "租赁和商务服务业": (7, "企业管理咨询 人力资源服务 广告传媒 会展服务 设备租赁 财务咨询"),
    "居民服务、修理和其他服务业": (5, "家政服务 汽车维修 保洁服务 洗浴服务 美容美发"),
    "房地产业": (3, "房地产开发 置业 物业管理"),
    "文化、体育和娱乐业": (2, "文化传媒 体育发展 文化旅游 影视"),
    "电力、热力、燃气及水生产和供应业": (2, "热电 供热 燃气 新能源 水务"),
}  # fmt: skip
# industries where small shops are 个体工商户 -> shop kinds
SHOPS: dict[str, tuple[str, ...]] = {
    "批发和零售业": ("便利店", "超市", "商店", "五金店", "烟酒店", "果蔬店", "粮油店", "副食店"),
    "住宿和餐饮业": ("烤肉店", "饭店", "饺子馆", "面馆", "火锅店", "早餐店", "酒馆"),
    "居民服务、修理和其他服务业": ("汽车修理部", "理发店", "洗衣店", "家电维修部", "洗浴中心"),
}
_PHRASES = {industry: phrases.split() for industry, (_, phrases) in INDUSTRIES.items()}

_TRADE_FIRST = (
    "鹤龙华北嫩昂富泰金瑞兴恒宏鑫盛达通和安佳源丰聚德信诚润泽博远宇腾嘉新东中天永长顺昌隆众益康汇"
)
_TRADE_SECOND = "城江泰鑫盛达通和安佳源丰聚德信诚润泽博远宇腾嘉顺利昌隆合众益康汇发旺祥林阳辉鼎"
_TRADE_FIXED = (
    "鹤城", "嫩江", "扎龙", "卜奎", "黑土", "北疆", "雪原", "丹顶鹤", "齐鹤", "鹤乡", "龙沙",
    "明月岛", "劳动湖", "关东",
)  # fmt: skip
_SURNAMES = "王王王王李李李张张张刘刘刘赵赵孙孙于于杨杨陈高徐马郭周吴朱胡宋董韩梁田姜崔任曲孟谷白付"
_GIVEN_ONE = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚辉鹏华飞玲波宇浩凯婷雪琳峰斌红梅欣"
_GIVEN_FIRST = "建志海玉淑立红晓春秀桂国宏文振德永丽俊雅子佳思宝金凤"
_GIVEN_SECOND = "国刚燕兰珍新梅东华英芳军伟明平辉峰涛杰鹏霞丽娟龙波琳"
# 3-digit mobile prefixes valid for every 8-digit suffix (phonenumbers CN metadata). 138 and 139
# are left for department heads and officers, so staff and enterprise numbers never collide.
_MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "147", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "166", "176", "177", "180", "181", "182", "183", "184",
    "185", "186", "187", "188", "189", "191", "193", "195", "196", "197", "198", "199",
)  # fmt: skip
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714 organisation code, A=10 … Z=35
_ORG_VALUES = {c: int(c, 36) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
# GB 32100, as in stdnum.cn.uscc (which the tests check every code against); inlined for speed
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I O S V Z
_USCC_VALUES = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

_INFO = "信息传输、软件和信息技术服务业"
_UTILITIES = "电力、热力、燃气及水生产和供应业"
_SERVICES = "居民服务、修理和其他服务业"
_DEPARTMENTS = (
    # code, name, industries, head, head's WeCom userid
    # Each industry's requests route to exactly one department (the importer enforces it).
    ("FGW", "发展和改革委员会", _UTILITIES, "刘建国", "LiuJianGuo"),
    ("GXJ", "工业和信息化局", "制造业", "王志刚", "WangZhiGang"),
    ("SWJ", "商务局", "批发和零售业", "张海燕", "ZhangHaiYan"),
    ("ZJJ", "住房和城乡建设局", "建筑业;房地产业", "赵立新", "ZhaoLiXin"),
    ("JTJ", "交通运输局", "交通运输、仓储和邮政业", "孙振德", "SunZhenDe"),
    ("NYJ", "农业农村局", "农、林、牧、渔业", "于春华", "YuChunHua"),
    ("KJJ", "科学技术局", f"科学研究和技术服务业;{_INFO}", "杨晓东", "YangXiaoDong"),
    ("WLJ", "文化广电和旅游局", "文化、体育和娱乐业;住宿和餐饮业", "陈玉兰", "ChenYuLan"),
    ("SJJ", "市场监督管理局", _SERVICES, "高宏伟", "GaoHongWei"),
    ("RSJ", "人力资源和社会保障局", "租赁和商务服务业", "徐淑珍", "XuShuZhen"),
    ("JRJ", "地方金融监督管理局", "金融业", "马俊峰", "MaJunFeng"),
    ("YSJ", "营商环境建设监督局", "", "郭永明", "GuoYongMing"),  # the business office
    # Departments no industry routes to: the smart answers' FAQ entries name them, so a
    # question handed over reaches the office that decides it (tax, insurance, permits).
    ("SHUIWU", "税务局", "", "曹德明", "CaoDeMing"),
    ("YBJ", "医疗保障局", "", "邵丽华", "ShaoLiHua"),
    ("GJJ", "住房公积金管理中心", "", "邹海峰", "ZouHaiFeng"),
    ("STJ", "生态环境局", "", "彭立军", "PengLiJun"),
    ("WJW", "卫生健康委员会", "", "蒋秀芳", "JiangXiuFang"),
    ("XFZD", "消防救援支队", "", "秦志勇", "QinZhiYong"),
)
_OFFICERS = (
    # name, WeCom userid, region, department code, Telegram chat id
    ("李明", "LiMing", "龙沙区", "GXJ", ""),
    ("张丽娟", "ZhangLiJuan", "龙沙区", "SWJ", ""),
    ("王磊", "WangLei", "龙沙区", "YSJ", "5829163047"),
    ("刘洋", "LiuYang", "建华区", "GXJ", ""),
    ("赵静", "ZhaoJing", "建华区", "KJJ", ""),
    ("孙宏伟", "SunHongWei", "建华区", "SJJ", ""),
    ("于海波", "YuHaiBo", "铁锋区", "ZJJ", ""),
    ("杨雪", "YangXue", "铁锋区", "SWJ", ""),
    ("陈立军", "ChenLiJun", "铁锋区", "JTJ", ""),
    ("高鹏", "GaoPeng", "昂昂溪区", "NYJ", ""),
    ("徐春梅", "XuChunMei", "昂昂溪区", "WLJ", ""),
    ("马国庆", "MaGuoQing", "富拉尔基区", "GXJ", ""),
    ("郭婷", "GuoTing", "富拉尔基区", "FGW", ""),
    ("周建华", "ZhouJianHua", "富拉尔基区", "RSJ", ""),
    ("吴凯", "WuKai", "碾子山区", "GXJ", ""),
    ("朱玉凤", "ZhuYuFeng", "梅里斯区", "NYJ", ""),
    ("韩志强", "HanZhiQiang", "龙江县", "NYJ", "6104275318"),
    ("宋佳", "SongJia", "龙江县", "SWJ", ""),
    ("董文杰", "DongWenJie", "讷河市", "NYJ", ""),
    ("田秀英", "TianXiuYing", "讷河市", "JRJ", ""),
)


def demo_departments() -> list[dict[str, str]]:
    """City departments for ``hub import departments``; exactly one is the business office."""
    rows = []
    for n, (code, name, industries, head, userid) in enumerate(_DEPARTMENTS, start=1):
        role = DepartmentRole.BUSINESS_OFFICE if code == "YSJ" else DepartmentRole.DEPARTMENT
        values = (code, CITY + name, role.value, industries, head, _staff_mobile("138", n), userid)
        rows.append(dict(zip(DEPARTMENT_COLUMNS, values, strict=True)))
    return rows


def demo_officers() -> list[dict[str, str]]:
    """Liaison officers (联络员) LL001… for ``hub import officers``, spread over every region."""
    rows = []
    for n, (name, userid, region, department, chat_id) in enumerate(_OFFICERS, start=1):
        values = (f"LL{n:03d}", name, _staff_mobile("139", n), userid, chat_id, region, department)
        rows.append(dict(zip(OFFICER_COLUMNS, values, strict=True)))
    return rows


STAFF_COLUMNS = (
    "username", "name", "role", "department", "district", "mobile", "wecom_userid", "officer",
)  # fmt: skip
# The department whose head and handler are the named demo accounts: manufacturing, the
# registry's largest industry with the tech-tagged enterprises.
DEMO_DEPARTMENT = "GXJ"
#: The liaison officer the ``demo-officer`` account stands for (李明, 龙沙区): it sees his
#: enterprises only.
DEMO_OFFICER = "LL001"


def demo_staff() -> list[dict[str, str]]:
    """Staff accounts (``hub staff add``): one of each role, and a handler in every department.

    ``demo-admin``, ``demo-dispatcher``, ``demo-handler`` and ``demo-head`` (of
    ``DEMO_DEPARTMENT``; the head is the one on its department row) and ``demo-viewer``
    (district 龙沙区); then ``demo-handler-<code>`` for every other department that handles
    an industry, so that a request from any demo enterprise is routed to a handler; then
    ``demo-officer`` (the account of the liaison officer ``DEMO_OFFICER``). Mobiles
    are in the 138 block after the department heads'.
    """
    heads = {row["code"]: row for row in demo_departments()}
    head = heads[DEMO_DEPARTMENT]
    rows = [
        ("demo-admin", "孟凡宇", "admin", "", ""),
        ("demo-dispatcher", "白雪梅", "dispatcher", "", ""),
        ("demo-handler", "曲志伟", "handler", DEMO_DEPARTMENT, ""),
        ("demo-head", head["head_name"], "head", DEMO_DEPARTMENT, ""),
        ("demo-viewer", "谷立新", "viewer", "", "龙沙区"),
    ]
    rng = random.Random(20261206)
    for code, _name, industries, _head, _userid in _DEPARTMENTS:
        if industries and code != DEMO_DEPARTMENT:
            rows.append((f"demo-handler-{code.lower()}", _person(rng), "handler", code, ""))
    # Last, so the accounts above keep the mobiles they had before the role existed.
    officer = next(row for row in demo_officers() if row["code"] == DEMO_OFFICER)
    rows.append(("demo-officer", officer["name"], "officer", "", ""))
    staff = []
    for n, (username, name, role, department, district) in enumerate(rows, start=1):
        mobile = head["head_mobile"] if username == "demo-head" else _staff_mobile("138", 100 + n)
        userid = head["head_wecom_userid"] if username == "demo-head" else ""
        linked = DEMO_OFFICER if role == "officer" else ""
        values = (username, name, role, department, district, mobile, userid, linked)
        staff.append(dict(zip(STAFF_COLUMNS, values, strict=True)))
    return staff


def demo_enterprises(count: int = 300, seed: int = 20261123) -> Iterator[dict[str, str]]:
    """Yield the rows of ``count`` enterprises (plus ~5% second-contact rows), lazily.

    The same ``seed`` always yields the same rows. Tiers are drawn key/general/ordinary at
    10/30/60%; key enterprises always have an officer from their own region.
    """
    rng = random.Random(seed)
    officers: dict[str, list[str]] = {}
    for row in demo_officers():
        officers.setdefault(row["region"], []).append(row["code"])
    old_codes = _Permutation(10**8, rng)  # pre-2015 numeric organisation codes
    new_codes = _Permutation(31**6, rng)  # "MA" codes assigned by the registration system
    mobiles = _Permutation(len(_MOBILE_PREFIXES) * 10**8, rng)
    openid_prefix = _random_id(rng, "o", 6)  # the openids of one Official Account share a prefix
    names: set[str] = set()
    for _ in range(count):
        tier = _TIERS.pick(rng)
        stage = _STAGES.pick(rng)
        region = _REGION_DRAW.pick(rng)
        industry = _INDUSTRY_DRAW.pick(rng)
        individual = tier is Tier.ORDINARY and industry in SHOPS and rng.random() < 0.3
        if stage is Stage.STARTUP or rng.random() < 0.6:
            org = "MA" + _base31(new_codes.next(), 6)
        else:
            org = f"{old_codes.next():08d}"
        # "9" market regulator, "1" enterprise (as asked; real 个体工商户 would carry "92")
        uscc = _uscc("91" + REGIONS[region][0] + _org_code(org))
        name = _unique_name(rng, names, region, industry, individual)
        officer = rng.choice(officers[region]) if rng.random() < _OFFICER_ODDS[tier] else ""
        enterprise = {
            "uscc": uscc,
            "name": name,
            "tier": tier.value,
            "industry": industry,
            "region": region,
            "stage": stage.value,
            "tags": _tags(rng, tier, industry, individual),
        }
        for _contact in range(2 if rng.random() < _SECOND_CONTACT_ODDS[tier] else 1):
            mobile = _mobile(mobiles.next())
            yield {
                **enterprise,
                "contact_name": _person(rng),
                "mobile": mobile,
                "wechat_openid": _random_id(rng, openid_prefix, 28) if rng.random() < 0.6 else "",
                "wecom_userid": _random_id(rng, "wm", 32) if rng.random() < 0.04 else "",
                "telegram_chat_id": "",
                "officer": officer,
            }


def write_csv(
    path: str | PathLike[str], rows: Iterable[Mapping[str, str]], *, encoding: str = "utf-8-sig"
) -> int:
    """Write ``rows`` as CSV with a header taken from the first row; return the number of rows.

    An empty ``rows`` writes an empty file. ``encoding="gbk"`` gives what Excel on a Chinese
    Windows saves by default.
    """
    written = 0
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer: csv.DictWriter[str] | None = None
        for row in rows:
            if writer is None:
                writer = csv.DictWriter(handle, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
            written += 1
    return written


_T = TypeVar("_T")


class _Weighted(Generic[_T]):
    """A weighted choice with precomputed cumulative weights (``random.choices`` redoes them)."""

    def __init__(self, items: Sequence[_T], weights: Sequence[int]) -> None:
        self.items, self.cumulative = tuple(items), list(itertools.accumulate(weights))

    def pick(self, rng: random.Random) -> _T:
        """Draw one item."""
        return self.items[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


_OFFICER_ODDS = {Tier.KEY: 1.0, Tier.GENERAL: 0.8, Tier.ORDINARY: 0.25}
_SECOND_CONTACT_ODDS = {Tier.KEY: 0.15, Tier.GENERAL: 0.06, Tier.ORDINARY: 0.03}  # ~5% overall
_TIERS = _Weighted((Tier.KEY, Tier.GENERAL, Tier.ORDINARY), (10, 30, 60))
_STAGES = _Weighted((Stage.STARTUP, Stage.OPERATING, Stage.EXITING), (8, 88, 4))
_REGION_DRAW = _Weighted(list(REGIONS), [weight for _, weight in REGIONS.values()])
_INDUSTRY_DRAW = _Weighted(list(INDUSTRIES), [weight for weight, _ in INDUSTRIES.values()])
_CITY_PLACES = _Weighted((CITY, "齐齐哈尔", "黑龙江", "黑龙江省"), (40, 35, 15, 10))
_COUNTY_PLACES = _Weighted(("", "黑龙江", "黑龙江省"), (70, 20, 10))  # "": the county's name
_FORMS = _Weighted(("有限公司", "有限责任公司", "股份有限公司"), (75, 20, 5))


class _Permutation:
    """A seeded affine bijection on ``range(modulus)``: distinct counters give distinct values."""

    def __init__(self, modulus: int, rng: random.Random) -> None:
        self.modulus, self.offset, self.counter = modulus, rng.randrange(modulus), 0
        self.factor = rng.randrange(modulus // 3, modulus)
        while gcd(self.factor, modulus) != 1:
            self.factor += 1

    def next(self) -> int:
        """The image of the next counter value; raises once the range is exhausted."""
        if self.counter >= self.modulus:
            raise OverflowError("demo data range exhausted")
        value = (self.factor * self.counter + self.offset) % self.modulus
        self.counter += 1
        return value


def _base31(value: int, width: int) -> str:
    """``value`` written with ``width`` characters of the USCC alphabet."""
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 31)
        chars.append(_USCC_ALPHABET[digit])
    return "".join(reversed(chars))


def _org_code(body: str) -> str:
    """Append the GB 11714 check character to an 8-character organisation code body."""
    check = 11 - sum(_ORG_VALUES[c] * w for c, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def _uscc(base: str) -> str:
    """Append the GB 32100 check character to the first 17 characters of a USCC."""
    total = sum(_USCC_VALUES[c] * w for c, w in zip(base, _USCC_WEIGHTS, strict=True))
    return base + _USCC_ALPHABET[-total % 31]


def _mobile(value: int) -> str:
    """The mobile number at ``value`` in the enterprise number space."""
    prefix, rest = divmod(value, 10**8)
    return f"{_MOBILE_PREFIXES[prefix]}{rest:08d}"


def _staff_mobile(prefix: str, n: int) -> str:
    """A fixed mobile for department heads (138) and officers (139), in Qiqihar's 0452 block."""
    return f"{prefix}4520{(n * 7919 + 1237) % 10000:04d}"


def _random_id(rng: random.Random, prefix: str, length: int) -> str:
    """``prefix`` padded with URL-safe base64 characters to ``length`` (openids, WeCom ids)."""
    need = length - len(prefix)
    return prefix + base64.urlsafe_b64encode(rng.randbytes(need)).decode()[:need]


def _person(rng: random.Random) -> str:
    """A common northern Chinese full name."""
    if rng.random() < 0.3:
        return rng.choice(_SURNAMES) + rng.choice(_GIVEN_ONE)
    return rng.choice(_SURNAMES) + rng.choice(_GIVEN_FIRST) + rng.choice(_GIVEN_SECOND)


def _trade_name(rng: random.Random) -> str:
    """A two- or three-character trade name (字号)."""
    if rng.random() < 0.08:
        return rng.choice(_TRADE_FIXED)
    first, second = rng.choice(_TRADE_FIRST), rng.choice(_TRADE_SECOND)
    return first + second if first != second else first + "源"


def _unique_name(
    rng: random.Random, seen: set[str], region: str, industry: str, individual: bool
) -> str:
    """Draw an enterprise name not in ``seen`` and add it there."""
    county = not region.endswith("区")
    while True:
        if individual:  # e.g. 齐齐哈尔市龙沙区鑫盛烤肉店
            name = (
                ("" if county else CITY) + region + _trade_name(rng) + rng.choice(SHOPS[industry])
            )
        else:  # e.g. 齐齐哈尔鹤城精密机械制造有限公司
            place = (_COUNTY_PLACES if county else _CITY_PLACES).pick(rng)
            phrase = rng.choice(_PHRASES[industry])
            form = _FORMS.pick(rng)
            name = (place or region) + _trade_name(rng) + phrase + form
        if name not in seen:
            seen.add(name)
            return name


# tier -> (tag, probability); the technology tags need a technology industry (_TECH_INDUSTRIES)
_TAG_ODDS: dict[Tier, dict[str, float]] = {
    Tier.KEY: {"规上企业": 0.7, "高新技术企业": 0.3, "专精特新": 0.2, "科技型中小企业": 0.15,
               "外贸企业": 0.1, "招商引资项目": 0.2},
    Tier.GENERAL: {"规上企业": 0.2, "高新技术企业": 0.08, "专精特新": 0.03,
                   "科技型中小企业": 0.1, "小微企业": 0.45, "外贸企业": 0.05,
                   "招商引资项目": 0.05, "首贷户": 0.05},
    Tier.ORDINARY: {"科技型中小企业": 0.02, "小微企业": 0.7, "外贸企业": 0.02, "首贷户": 0.08},
}  # fmt: skip
_TECH_TAGS = frozenset({"高新技术企业", "专精特新", "科技型中小企业"})
_TECH_INDUSTRIES = frozenset({"制造业", "信息传输、软件和信息技术服务业", "科学研究和技术服务业"})


def _tags(rng: random.Random, tier: Tier, industry: str, individual: bool) -> str:
    """``;``-joined feature tags plausible for the tier and industry."""
    if individual:
        return "个体工商户;首贷户" if rng.random() < 0.05 else "个体工商户"
    tags = [
        tag
        for tag, odds in _TAG_ODDS[tier].items()
        if rng.random() < odds and (tag not in _TECH_TAGS or industry in _TECH_INDUSTRIES)
    ]
    if "规上企业" in tags and "小微企业" in tags:  # above-scale is never small or micro
        tags.remove("小微企业")
    return ";".join(tags)
