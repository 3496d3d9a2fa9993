"""Chinese tokens for retrieval: jieba words (the library in search mode, questions in precise
mode) with the library's own terms as a user dictionary, and character n-grams (1 and 2
characters) where segmentation fails (typos, words jieba does not know, a term cut differently
in the question and in the library).

jieba's dictionary (~500,000 words) is read once per process (about 0.5 s, measured by
:func:`dictionary_load_seconds`) straight from the file jieba ships: not through
``jieba.initialize``, which logs to stderr and writes a cache file to /tmp. Each index gets its
own :class:`Segmenter`, a copy of that dictionary (about 15 ms) plus the library's terms, so a
rebuilt library never changes the words of an index in use.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable

# jieba has no type hints.
import jieba  # type: ignore[import-untyped]

__all__ = [
    "STOPWORDS",
    "Segmenter",
    "char_ngrams",
    "content_runs",
    "dictionary_load_seconds",
]

#: Words that say how a question is asked, not what it is about; they never count as a match.
_STOPWORD_TEXT = """
的 了 吗 呢 吧 啊 呀 哦 嘛 么 是 在 有 和 与 及 或 就 都 也 还 又 要 会 能 可以 可 请 请问
我 我们 我司 咱们 你 你们 您 他 她 它 这 那 这个 那个 这些 那些 哪 哪个 哪些 哪里 什么 啥
怎么 怎么样 怎样 如何 为什么 为啥 多少 几 是否 是不是 能不能 可不可以 需不需要 有没有
一下 一个 个 想 想问 问 问下 咨询 了解 请教 麻烦 谢谢 你好 您好 一些 下 对 给 被 把 让
从 到 向 于 为 以 之 其 该 等 后 前 时 时候 现在 目前 如果 但是 然后 因为 所以 还是 已经
需要 应该 要求 具体 相关 那么
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

#: The sizes of the character n-grams: single characters and pairs (chosen on the evaluation
#: set over 2+3 and 2 alone, see docs/design.md "Smart answers").
GRAM_SIZES = (1, 2)

_WORD_CHAR = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")

_dictionary_lock = threading.Lock()
_dictionary: tuple[dict[str, int], int] | None = None
_dictionary_seconds = 0.0


def _base_dictionary() -> tuple[dict[str, int], int]:
    """jieba's word frequencies and their total, read once per process."""
    global _dictionary, _dictionary_seconds
    with _dictionary_lock:
        if _dictionary is None:
            started = time.perf_counter()
            reader = jieba.Tokenizer()
            with reader.get_dict_file() as file:
                _dictionary = reader.gen_pfdict(file)
            _dictionary_seconds = time.perf_counter() - started
        return _dictionary


def dictionary_load_seconds() -> float:
    """How long reading jieba's dictionary took in this process (0 before the first index)."""
    return _dictionary_seconds


class Segmenter:
    """jieba with the library's terms: words of a text, stopwords and punctuation left out."""

    def __init__(self, terms: Iterable[str] = ()) -> None:
        self._terms = tuple(term for term in terms if len(term) >= 2)
        self._tokenizer: jieba.Tokenizer | None = None
        self._remembered: dict[str, list[str]] = {}

    @property
    def _jieba(self) -> jieba.Tokenizer:
        """jieba with the library's terms, made on first use: an empty library (a hub with no
        FAQ or policies yet, a benchmark's) never loads the dictionary (~70 MB)."""
        if self._tokenizer is None:
            frequencies, total = _base_dictionary()
            tokenizer = jieba.Tokenizer()
            tokenizer.FREQ = dict(frequencies)
            tokenizer.total = total
            tokenizer.initialized = True
            for term in self._terms:
                # The frequency jieba gives a word it must keep whole (suggest_freq's rule
                # without its re-cutting): high enough to win over the pieces.
                tokenizer.add_word(term, freq=max(3, tokenizer.suggest_freq(term)))
            self._tokenizer = tokenizer
        return self._tokenizer

    def words(self, text: str) -> list[str]:
        """The words of a folded question, jieba's precise mode: 高新技术企业 stays one word,
        which the documents hold (they are cut in search mode)."""
        return [w for run in _WORD_CHAR.findall(text) for w in self._cut(run, search=False)]

    def document_words(self, text: str) -> list[str]:
        """The words of a folded library text, search mode (高新技术企业 also gives 高新,
        技术, 企业 …), so a question naming a part of a term still matches it.

        Each run's words are kept for the next text: the library repeats its phrases, and
        segmenting is most of an index's build time.
        """
        found: list[str] = []
        for run in _WORD_CHAR.findall(text):
            words = self._remembered.get(run)
            if words is None:
                words = self._remembered[run] = self._cut(run, search=True)
            found.extend(words)
        return found

    def forget(self) -> None:
        """Drop the runs kept by :meth:`document_words` (an index calls it once built)."""
        self._remembered.clear()

    def _cut(self, run: str, *, search: bool) -> list[str]:
        cut = self._jieba.cut_for_search if search else self._jieba.cut
        return [word for word in cut(run) if word not in STOPWORDS]


def char_ngrams(text: str) -> list[str]:
    """Character n-grams (:data:`GRAM_SIZES`) of a folded text, within runs between
    punctuation and stopwords (so 请问 or 怎么 never make a gram)."""
    grams: list[str] = []
    for run in content_runs(text):
        for size in GRAM_SIZES:
            grams.extend(run[i : i + size] for i in range(len(run) - size + 1))
        if len(run) == 1 and 1 not in GRAM_SIZES:
            grams.append(run)
    return grams


_STOP_RUN = re.compile(
    "|".join(sorted((re.escape(w) for w in STOPWORDS if len(w) > 1), key=len, reverse=True))
)


def content_runs(text: str) -> list[str]:
    """The runs of letters, digits and Chinese characters of a folded text, cut at
    punctuation and at stopwords."""
    runs: list[str] = []
    for run in _WORD_CHAR.findall(text):
        runs.extend(part for part in _STOP_RUN.split(run) if part)
    return runs
