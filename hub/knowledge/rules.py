"""Question-type rules: what the words of a question say about whether the library can answer
it, beyond how well it matches an entry.

- A question about the enterprise's own case (帮我查一下…, 钱到账了没有, 审批到哪一步了, 为什么
  还没发, 我们的证书什么时候能寄到) needs a person who can look at that case: the library only
  says how things work.
- A question with almost no content (``1``, ``?``, 好的) is never answered.
- A message that asks nothing (no 吗, 怎么, 什么, 哪, ?, … ) but says what happened or thanks
  (好的收到, 钱已经收到了, 路灯坏了, 哈哈哈, 请尽快派人来) is for a person, however many words it
  shares with an entry: :func:`asks_nothing`.
- A question asking what an enterprise needs to open a kind of business (开网吧需要什么手续,
  开宠物医院要办什么许可) names that business as its object: :func:`opened_business` gives it,
  and the engine hands the question over when the library never mentions it (the library's
  permits for 娱乐场所 or 个体户 share every other word, but are not the answer).

Pure and cheap; the patterns are compiled once, at import.
"""

from __future__ import annotations

import re

__all__ = ["asks_nothing", "asks_own_case", "content_chars", "opened_business"]

_OWN_CASE = re.compile(
    r"(?:帮|麻烦|给)(?:我|我们|忙|您)?(?:查|看)(?:一下|查|看|询)"
    r"|查(?:一下|查)(?:我们|我|咱|本)"
    r"|到账(?:了)?(?:没|吗|了没)|(?:进度|进展)(?:怎么样|如何|到哪)|到哪一步|到哪一环节"
    r"|(?:为什么|为啥|怎么|咋)(?:到现在)?(?:还|都)没"
    r"|还没(?:有)?(?:人)?(?:回复|答复|处理|发下来|到账|批下来|下来)"
    r"|能(?:不能)?(?:评|批|审批|通过)上"
    r"|(?:是不是|有没有)被(?:列入|列为|纳入|处罚|罚)"
    r"|(?:我们|我|咱们|我司|俺们)(?:公司|厂|企业)?的.{0,15}(?:什么时候|啥时候|何时|多久)"
    r"(?:能|才能|可以|会)?(?:寄|发|到|下来|批|拿到|办好|办完|审完|出来)"
    # A favour for the enterprise's own case: chase, mediate, vouch, promote, an exception.
    r"|帮(?:我|我们|忙|咱|我们公司)?(?:催|协调|找人|说情|做个|推荐|问问|打听)"
    r"|催(?:一下|一催|催)|把我们(?:加|放)(?:到|进)"
    r"|(?:能不能|能否|可不可以)(?:再)?(?:延长|追加|宽限|通融|延期(?!申报|缴纳|缴税|纳税))"
)
# 开(个|家…)(小)? BUSINESS (需要|要|得)(办|找|申请)? 什么|啥|哪些|哪个 … 许可|证|手续|部门|批|资质.
_OPENS = re.compile(
    r"开(?:一)?(?:个|家|间|所)?(?:小)?"
    r"(?P<business>(?:(?!需要|还要|要|得|该|找|申请)[\u4e00-\u9fff]){2,10})"
    r",?(?:需要|还要|要|得|该)(?:办|找|申请|去)?(?:什么|啥|哪些|哪个|哪种|哪)"
    r"[\u4e00-\u9fff]{0,4}?(?:许可|证|手续|部门|批|资质|执照)"
)
_ASKS = re.compile(
    r"\?|吗|呢|么|怎|什么|哪|多少|几|是否|咋|啥|如何|(.)不\1|有没有|没有$|不$|没$|了没|还是|吧|多久|多长"
    r"|谁|何"
)
# What a statement, a thanks or a request says it is (a keyword query has none of these).
# 想 and 请 only as a wish or request for an act (想换个地块, 请尽快派人), not for information
# (我们想申请高企认定, 请介绍一下稳岗返还 are questions).
_TELLS = re.compile(
    r"了|好的|收到|哈|嗯|好好|帮|麻烦|呗|谢|请(?:尽快|速|派|你们|您)"
    r"|想(?!申请|办|了解|知道|咨询|问|查|看看|享受)"
)
_CONTENT = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fffa-z]")


def asks_own_case(question: str) -> bool:
    """The folded question asks about the enterprise's own case (its status, its money, a
    decision on it), which the library cannot know."""
    return _OWN_CASE.search(question) is not None


def content_chars(question: str) -> int:
    """How many letters and Chinese characters the folded question has."""
    return len(_CONTENT.findall(question))


def opened_business(question: str) -> str | None:
    """The kind of business a folded question asks what it takes to open (开网吧需要什么手续
    → 网吧), or None for any other question."""
    match = _OPENS.search(question)
    return match.group("business") if match else None


def asks_nothing(question: str) -> bool:
    """The folded message asks nothing: no question word or mark (吗, 怎么, 能不能, 发不发, ?
    …), and it tells, thanks or requests (了, 收到, 谢, 请, 帮 …) rather than naming a subject
    as a keyword query does."""
    return _ASKS.search(question) is None and _TELLS.search(question) is not None
