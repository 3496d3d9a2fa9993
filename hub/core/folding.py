"""Text folding shared by everything that reads what people type: NFKC (full-width １ＴＤ？
become 1TD?), invisible marks dropped, whitespace collapsed.

The reply classifiers (:mod:`hub.inbound.classify.text`) and retrieval for smart answers
(:mod:`hub.knowledge.text`) fold the same way, so a full-width question is read as its
half-width twin everywhere.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalise"]

# Zero-width characters, emoji variation selectors and the keycap mark: "5️⃣" is "5" + U+FE0F
# + U+20E3, and NFKC leaves both marks in place.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\ufe0e\ufe0f\u20e3]")
_WHITESPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC (full-width １ ＴＤ become 1 TD), invisible marks dropped, whitespace collapsed.

    The marks go first: dropping one later could join two characters NFKC would then compose,
    and normalising the result again would change it.
    """
    folded = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))
    return _WHITESPACE.sub(" ", folded).strip()
