"""Retrieval over the knowledge base and the decision to answer.

Every entry is matched through its documents: an FAQ's question, each alternate, and its
question with its answer; a policy passage with the policy's title. Each document is in two
BM25 indexes (bm25s): jieba words and character n-grams. A question's score against a document
is, in each index, the BM25 score divided by the score the question would get against itself
as a document (its *self-match*): 1.0 is "this document says everything the question says, as
rarely as the question says it", whatever the question's length or the library's size, which is
what lets one threshold hold for short and long questions. Words of the question the library
never uses count in the self-match too, so a question about something the library does not
know scores low. The two indexes are mixed (``WORD_WEIGHT``); an entry's score is its best
document's. A second stage mixes, for the best few entries, the share of the question's
characters the entry's texts hold (``RERANK_WEIGHT``): it pays for itself on the evaluation set.

The hub answers only when the best entry's score reaches ``min_score`` and it leads the best
entry that would give a different answer by ``min_margin`` (passages of one policy are one
answer: the runner-up is taken from another policy or FAQ), and the question is not too
short, asks something, is not about the enterprise's own case (:mod:`hub.knowledge.rules`),
names no other city or province (:mod:`hub.knowledge.places`) and does not ask about opening
a kind of business the library never mentions (:meth:`KnowledgeIndex.out_of_library`). An
entry past its ``valid_until`` is never a candidate. The calibration (weights, thresholds,
what each stage and rule was worth, bm25s against rank-bm25) is in docs/design.md "Smart
answers".
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from datetime import date

import numpy as np
import numpy.typing as npt

from hub.knowledge.places import PlaceFilter
from hub.knowledge.rules import asks_nothing, asks_own_case, content_chars, opened_business
from hub.knowledge.settings import AnswerSettings
from hub.knowledge.text import fold, question_text
from hub.knowledge.tokenize import Segmenter, char_ngrams, content_runs
from hub.knowledge.verdict import Candidate, Entry, Verdict

__all__ = ["KnowledgeIndex", "library_terms"]

# BM25's term-frequency saturation and length normalisation (b lower than the usual 0.75: an
# FAQ's answer is a long document that should not lose much for its length).
K1 = 1.2
B = 0.5
#: The share of the word index in the combined score (the rest: character n-grams).
WORD_WEIGHT = 0.5
#: How much a word (a character n-gram) of the question that the library never uses counts in
#: the question's self-match, times the highest idf: an unknown word is evidence of a subject
#: the library does not cover (counted more), a gram across two words or a typo much less so.
UNSEEN_WORD_WEIGHT = 1.5
UNSEEN_GRAM_WEIGHT = 0.5
#: The second stage: the share of character overlap in the final score of the best entries.
RERANK_WEIGHT = 0.35
RERANK_DEPTH = 10
#: A question with fewer letters or Chinese characters than this is never answered (``1``).
MIN_CONTENT_CHARS = 3
TOP = 3
# A date past every valid_until: the entries that never expire.
_NEVER = date.max.toordinal()

Floats = npt.NDArray[np.float64]


class _Bm25:
    """One BM25 index (Lucene's variant, by bm25s: the score of every token in every document
    computed at build time into a sparse matrix, so a question costs one sparse row sum), and
    the question's self-match on the same formula."""

    def __init__(self, documents: list[list[str]], unseen_weight: float) -> None:
        # Imported here: bm25s (and numpy's sparse code it loads) is only needed by an index.
        import bm25s  # type: ignore[import-untyped]

        # bm25s sets its own logger to DEBUG on import ("Building index from tokens" on the
        # hub's console at every build); the hub's logging level decides, as for any library.
        logging.getLogger("bm25s").setLevel(logging.NOTSET)

        self._count = len(documents)
        self._unseen_weight = unseen_weight
        self._retriever = bm25s.BM25(k1=K1, b=B, method="lucene")
        self._retriever.index(documents, show_progress=False)
        self._frequency: Counter[str] = Counter()
        for document in documents:
            self._frequency.update(set(document))
        self._average = max(1.0, sum(map(len, documents)) / max(1, len(documents)))

    def knows(self, token: str) -> bool:
        """Some document holds the token."""
        return token in self._frequency

    def relative(self, tokens: list[str]) -> Floats:
        """Every document's BM25 score for the tokens divided by their self-match."""
        ids = self._retriever.get_tokens_ids(list(dict.fromkeys(tokens)))
        own = self._self_match(tokens)
        if not ids or own <= 0:
            return np.zeros(self._count)
        scores = np.asarray(self._retriever.get_scores_from_ids(ids), dtype=np.float64)
        return scores / own

    def _self_match(self, tokens: list[str]) -> float:
        """The score the tokens would get against themselves as a document of this index;
        a token no document holds counts with the highest idf, times ``unseen_weight``."""
        norm = K1 * (1 - B + B * len(tokens) / self._average)
        total = 0.0
        for token, tf in Counter(tokens).items():
            df = self._frequency.get(token, 0)
            idf = math.log(1 + (self._count - df + 0.5) / (df + 0.5))
            total += idf * tf / (tf + norm) * (1.0 if df else self._unseen_weight)
        return total


class KnowledgeIndex:
    """The entries of one library, indexed; :meth:`ask` is pure, synchronous and fast."""

    def __init__(
        self, entries: Sequence[Entry], settings: AnswerSettings, *, segmenter: Segmenter
    ) -> None:
        self.entries = tuple(entries)
        self.settings = settings
        self.segmenter = segmenter
        word_docs: list[list[str]] = []
        gram_docs: list[list[str]] = []
        starts: list[int] = []
        shared: dict[str, str] = {}
        # Each entry's distinct characters as one string: a set per entry would weigh ~5 KB.
        self._chars: list[str] = []
        for entry in self.entries:
            starts.append(len(word_docs))
            texts = [fold(text) for text in _documents(entry)]
            for folded in texts:
                # One string object per distinct token: a large library's token lists would
                # otherwise hold millions of equal small strings while the index is built.
                word_docs.append(
                    [shared.setdefault(t, t) for t in segmenter.document_words(folded)]
                )
                gram_docs.append([shared.setdefault(t, t) for t in char_ngrams(folded)])
            self._chars.append("".join(sorted(set("".join(content_runs(" ".join(texts)))))))
        segmenter.forget()
        self._places = PlaceFilter(
            text for e in self.entries for text in (e.title, e.answer, e.department or "")
        )
        self._starts = np.asarray(starts, dtype=np.int64)
        self._words = _Bm25(word_docs, UNSEEN_WORD_WEIGHT) if word_docs else None
        self._grams = _Bm25(gram_docs, UNSEEN_GRAM_WEIGHT) if gram_docs else None
        self._valid_until = np.asarray(
            [e.valid_until.toordinal() if e.valid_until else _NEVER for e in self.entries],
            dtype=np.int64,
        )
        groups: dict[str, int] = {}
        self._groups = np.asarray(
            [groups.setdefault(_answer_group(e), len(groups)) for e in self.entries],
            dtype=np.int64,
        )

    @classmethod
    def build(cls, entries: Sequence[Entry], settings: AnswerSettings) -> KnowledgeIndex:
        """Index the entries: a segmenter with the library's own terms, then both indexes."""
        return cls(entries, settings, segmenter=Segmenter(library_terms(entries)))

    def __len__(self) -> int:
        return len(self.entries)

    def scores(self, text: str, *, today: date) -> Floats:
        """Every entry's calibrated score for a question (0 for an entry expired on ``today``)."""
        if self._words is None or self._grams is None:
            return np.zeros(len(self.entries))
        folded = question_text(text)
        combined = WORD_WEIGHT * self._words.relative(self.segmenter.words(folded)) + (
            1 - WORD_WEIGHT
        ) * self._grams.relative(char_ngrams(folded))
        per_entry = np.maximum.reduceat(combined, self._starts)
        self._rerank(per_entry, frozenset("".join(content_runs(folded))))
        per_entry[self._valid_until < today.toordinal()] = 0.0
        return np.clip(per_entry, 0.0, 1.0)

    def ask(self, text: str, *, today: date) -> Verdict:
        """What the hub would do with a question on ``today``: the best entries (at most
        three, none expired), the best score, its margin over the best entry giving another
        answer, and whether that is sure enough to answer automatically."""
        scores = self.scores(text, today=today)
        order = np.argsort(-scores, kind="stable")
        candidates = tuple(
            Candidate(self.entries[i], float(scores[i])) for i in order[:TOP] if scores[i] > 0
        )
        if not candidates:
            return Verdict(question=text, candidates=(), score=0.0, margin=0.0,
                           confident=False, handover_reason="知识库中没有匹配的条目")  # fmt: skip
        best = int(order[0])
        others = scores[self._groups != self._groups[best]]
        score = float(scores[best])
        margin = score - (float(others.max()) if others.size else 0.0)
        reason = self._handover_reason(question_text(text), score, margin)
        return Verdict(
            question=text, candidates=candidates, score=score, margin=margin,
            confident=reason is None, handover_reason=reason,
        )  # fmt: skip

    def _handover_reason(self, folded: str, score: float, margin: float) -> str | None:
        """Why a person must answer this question, the first reason that holds; None when the
        hub may answer it automatically."""
        settings = self.settings
        if not settings.enabled:
            return "智能答复未开启"
        if score < settings.min_score:
            return f"匹配得分 {score:.2f} 低于阈值 {settings.min_score}"
        if margin < settings.min_margin:
            return f"与另一答案的得分差 {margin:.2f} 低于阈值 {settings.min_margin}"
        if content_chars(folded) < MIN_CONTENT_CHARS:
            return "问题内容过少"
        if asks_own_case(folded):
            return "询问本企业的具体办理情况"
        if asks_nothing(folded):
            return "没有提出问题"
        # Last: it segments the question, the costliest check.
        if self.out_of_library(folded):
            return "涉及知识库以外的地区或事项"
        return None

    def out_of_library(self, folded: str) -> bool:
        """The folded question is about something the library does not hold, whatever its
        words share with an entry: another city or province (:class:`PlaceFilter`), or the
        opening of a kind of business the library never mentions (:func:`opened_business`;
        a word of it counts as mentioned when the library holds its first two characters:
        美容院 by 美容店)."""
        words = self.segmenter.words(folded)
        if self._places.foreign(folded, words):
            return True
        business = opened_business(folded)
        if business is None or self._grams is None:
            return False
        grams = self._grams
        return any(
            not grams.knows(word[:2]) for word in self.segmenter.words(business) if len(word) >= 2
        )

    def _rerank(self, per_entry: Floats, content: frozenset[str]) -> None:
        """The second stage, in place: the best entries' scores mixed with the share of the
        question's characters (stopwords left out) their texts hold, which rewards an entry
        that holds the question's words however they were cut or misspelt."""
        if not content:
            return
        depth = min(RERANK_DEPTH, len(per_entry))
        for i in np.argpartition(-per_entry, depth - 1)[:depth]:
            chars = self._chars[i]
            overlap = sum(c in chars for c in content) / len(content)
            per_entry[i] = (1 - RERANK_WEIGHT) * per_entry[i] + RERANK_WEIGHT * overlap


def _documents(entry: Entry) -> list[str]:
    """The texts an entry is matched by: its questions (at least its title), and an FAQ's
    answer with its question (a question often asks about a detail only the answer names)."""
    texts = [q for q in entry.questions if q.strip()] or [entry.title]
    if entry.kind == "faq":
        texts.append(f"{entry.title} {entry.answer}")
    return texts


def _answer_group(entry: Entry) -> str:
    """Entries giving one answer: the passages of one policy; an FAQ entry alone."""
    if entry.kind == "policy":
        return entry.entry_id.partition("#")[0]
    return entry.entry_id


_QUOTED = re.compile(r"[《“\"「『]([^》”\"」』]{2,20})[》”\"」』]")
_CITY_PREFIX = re.compile(r"^(?:\w{2,4}?市)")


def library_terms(entries: Sequence[Entry]) -> set[str]:
    """The library's own terms for jieba's user dictionary: policy titles, department names
    (with and without the city's name), and what the library quotes (《…》, “…”)."""
    terms: set[str] = set()
    for entry in entries:
        if entry.kind == "policy":
            terms.add(fold(entry.title))
        if entry.department:
            department = fold(entry.department)
            terms.add(department)
            terms.add(_CITY_PREFIX.sub("", department))
        for text in (*entry.questions, entry.answer, entry.source):
            terms.update(fold(m) for m in _QUOTED.findall(text))
    return {t for t in terms if 2 <= len(t) <= 24 and " " not in t}
