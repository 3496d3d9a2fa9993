"""Retrieval over the knowledge base and the decision to answer.

Every entry is matched through its questions (an FAQ's question and its alternates; a policy
passage with its title), each one a document of two BM25 indexes: jieba words and character
2/3-grams. A question's score against a document is, in each index, the BM25 score divided by
the score the question would get against itself as a document (its *self-match*): 1.0 is "this
document says everything the question says, as rarely as the question says it", whatever the
question's length or the library's size, which is what makes one threshold hold for short and
long questions. Words of the question the library never uses count in the self-match too, so
a question about something the library does not know scores low. The two are mixed
(``WORD_WEIGHT``); an entry's score is its best document's.

The hub answers only when the best entry's score reaches ``min_score`` and it leads the best
entry that would give a different answer by ``min_margin`` (passages of one policy are one
answer: the runner-up is taken from another policy or FAQ). An entry past its ``valid_until``
is never a candidate. The calibration (the weights, thresholds, and what the second stages were
worth) is in docs/design.md "Smart answers".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from hub.knowledge.settings import AnswerSettings
from hub.knowledge.text import fold, question_text
from hub.knowledge.tokenize import Segmenter, char_ngrams
from hub.knowledge.verdict import Candidate, Entry, Verdict

__all__ = ["Backend", "KnowledgeIndex", "library_terms"]

#: The share of the word index in the combined score (the rest: character n-grams).
WORD_WEIGHT = 0.5
K1 = 1.2
B = 0.75
#: How much a word of the question the library never uses counts in its self-match.
UNSEEN_WEIGHT = 1.0
TOP = 3
# A date past every valid_until: the entries that never expire.
_NEVER = date.max.toordinal()

Backend = Literal["bm25s", "rank_bm25"]
Floats = npt.NDArray[np.float64]


class _Scorer(Protocol):
    def scores(self, tokens: list[str]) -> Floats: ...

    def self_score(self, tokens: list[str]) -> float: ...


class _Bm25sScorer:
    """BM25 (Lucene's variant) by bm25s: the score of every token in every document computed
    at build time into a sparse matrix, so a question costs one sparse row sum."""

    def __init__(self, documents: list[list[str]]) -> None:
        # Imported here: bm25s is heavy to import and only an index needs it.
        import bm25s  # type: ignore[import-untyped]

        self._count = len(documents)
        self._retriever = bm25s.BM25(k1=K1, b=B, method="lucene")
        self._retriever.index(documents, show_progress=False)
        self._frequency: Counter[str] = Counter()
        for document in documents:
            self._frequency.update(set(document))
        self._average = max(1.0, sum(map(len, documents)) / max(1, len(documents)))

    def scores(self, tokens: list[str]) -> Floats:
        ids = self._retriever.get_tokens_ids(tokens)
        if not ids:
            return np.zeros(self._count)
        return np.asarray(self._retriever.get_scores_from_ids(ids), dtype=np.float64)

    def self_score(self, tokens: list[str]) -> float:
        counts = Counter(tokens)
        norm = K1 * (1 - B + B * len(tokens) / self._average)
        total = 0.0
        for token, tf in counts.items():
            df = self._frequency.get(token, 0)
            idf = math.log(1 + (self._count - df + 0.5) / (df + 0.5))
            total += idf * tf / (tf + norm) * (1.0 if df else UNSEEN_WEIGHT)
        return total


class _RankBm25Scorer:
    """BM25 (Okapi) by rank-bm25: scores computed per question over every document."""

    def __init__(self, documents: list[list[str]]) -> None:
        # Imported here: only the backend comparison uses it.
        from rank_bm25 import BM25Okapi  # type: ignore[import-untyped]

        self._count = len(documents)
        self._bm25 = BM25Okapi([d or [""] for d in documents], k1=K1, b=B)
        self._average = max(1.0, float(self._bm25.avgdl))

    def scores(self, tokens: list[str]) -> Floats:
        known = [t for t in tokens if t in self._bm25.idf]
        if not known:
            return np.zeros(self._count)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float64)

    def self_score(self, tokens: list[str]) -> float:
        counts = Counter(tokens)
        norm = K1 * (1 - B + B * len(tokens) / self._average)
        unseen = math.log((self._count + 0.5) / 0.5) * UNSEEN_WEIGHT
        return float(
            sum(
                self._bm25.idf.get(token, unseen) * tf * (K1 + 1) / (tf + norm)
                for token, tf in counts.items()
            )
        )


def _scorer(backend: Backend, documents: list[list[str]]) -> _Scorer:
    if backend == "bm25s":
        return _Bm25sScorer(documents)
    return _RankBm25Scorer(documents)


@dataclass(frozen=True, slots=True)
class _Query:
    words: list[str]
    grams: list[str]


class KnowledgeIndex:
    """The entries of one library, indexed; :meth:`ask` is pure, synchronous and fast."""

    def __init__(
        self,
        entries: Sequence[Entry],
        settings: AnswerSettings,
        *,
        segmenter: Segmenter,
        backend: Backend = "bm25s",
    ) -> None:
        self.entries = tuple(entries)
        self.settings = settings
        self.segmenter = segmenter
        self.backend = backend
        word_docs: list[list[str]] = []
        gram_docs: list[list[str]] = []
        starts: list[int] = []
        for entry in self.entries:
            starts.append(len(word_docs))
            for text in _documents(entry):
                folded = fold(text)
                word_docs.append(segmenter.words(folded))
                gram_docs.append(char_ngrams(folded))
        self._starts = np.asarray(starts, dtype=np.int64)
        self._words = _scorer(backend, word_docs) if word_docs else None
        self._grams = _scorer(backend, gram_docs) if gram_docs else None
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
    def build(
        cls, entries: Sequence[Entry], settings: AnswerSettings, *, backend: Backend = "bm25s"
    ) -> KnowledgeIndex:
        """Index the entries: a segmenter with the library's own terms, then both indexes."""
        segmenter = Segmenter(library_terms(entries))
        return cls(entries, settings, segmenter=segmenter, backend=backend)

    def __len__(self) -> int:
        return len(self.entries)

    def scores(self, text: str, *, today: date) -> Floats:
        """Every entry's calibrated score for a question (0 for an entry expired on ``today``)."""
        if not self.entries or self._words is None or self._grams is None:
            return np.zeros(len(self.entries))
        query = self._query(text)
        combined = WORD_WEIGHT * _relative(self._words, query.words) + (
            1 - WORD_WEIGHT
        ) * _relative(self._grams, query.grams)
        per_entry = np.maximum.reduceat(combined, self._starts)
        per_entry[self._valid_until < today.toordinal()] = 0.0
        return np.minimum(per_entry, 1.0)

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
            return Verdict(question=text, candidates=(), score=0.0, margin=0.0, confident=False)
        best = int(order[0])
        others = scores[self._groups != self._groups[best]]
        runner_up = float(others.max()) if others.size else 0.0
        score = float(scores[best])
        margin = score - runner_up
        confident = (
            self.settings.enabled
            and score >= self.settings.min_score
            and margin >= self.settings.min_margin
        )
        return Verdict(
            question=text, candidates=candidates, score=score, margin=margin, confident=confident
        )

    def _query(self, text: str) -> _Query:
        folded = question_text(text)
        return _Query(words=self.segmenter.words(folded), grams=char_ngrams(folded))


def _relative(scorer: _Scorer, tokens: list[str]) -> Floats:
    """BM25 scores divided by the question's self-match (0 for a question with no token)."""
    if not tokens:
        return np.zeros_like(scorer.scores(["\x00"]))
    unique = list(dict.fromkeys(tokens))
    own = scorer.self_score(tokens)
    if own <= 0:
        return np.zeros_like(scorer.scores(["\x00"]))
    return scorer.scores(unique) / own


def _documents(entry: Entry) -> list[str]:
    """The texts an entry is matched by: its questions, or at least its title."""
    return [q for q in entry.questions if q.strip()] or [entry.title]


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
