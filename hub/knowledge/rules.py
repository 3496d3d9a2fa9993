"""Question-type rules: what the words of a question say about whether the library can answer
it, beyond how well it matches an entry.

- A question about the enterprise's own case (帮我查一下…, 钱到账了没有, 审批到哪一步了, 为什么
  还没发, 我们的证书什么时候能寄到) needs a person who can look at that case: the library only
  says how things work.
- A question with almost no content (``1``, ``?``, 好的) is never answered.

Pure and cheap; the patterns are compiled once, at import.
"""

from __future__ import annotations

import re

__all__ = ["asks_own_case", "content_chars"]

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
)
_CONTENT = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fffa-z]")


def asks_own_case(question: str) -> bool:
    """The folded question asks about the enterprise's own case (its status, its money, a
    decision on it), which the library cannot know."""
    return _OWN_CASE.search(question) is not None


def content_chars(question: str) -> int:
    """How many letters and Chinese characters the folded question has."""
    return len(_CONTENT.findall(question))
