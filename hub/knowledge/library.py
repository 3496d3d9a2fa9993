"""The live index of a process: built from the database once, rebuilt when the FAQ entries or
the policies change.

:meth:`Library.current` checks at most every ``refresh_s`` (a two-aggregate fingerprint query)
and rebuilds only when the fingerprint moved, in a worker thread so that the event loop keeps
serving while a large library is indexed. Questions asked meanwhile use the index in force: an
index is immutable, a rebuild swaps it whole.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from hub.knowledge.corpus import LibraryFingerprint, library_fingerprint, load_entries
from hub.knowledge.settings import AnswerSettings

if TYPE_CHECKING:
    from hub.knowledge.engine import KnowledgeIndex

__all__ = ["Library"]


class Library:
    """One process's knowledge index, kept in step with the database."""

    def __init__(self, settings: AnswerSettings) -> None:
        self.settings = settings
        self._index: KnowledgeIndex | None = None
        self._fingerprint: LibraryFingerprint | None = None
        self._checked_at: datetime | None = None
        self._lock = asyncio.Lock()
        #: How many times the index was built (tests and stats read it).
        self.builds = 0

    async def current(self, session: AsyncSession, *, now: datetime) -> KnowledgeIndex:
        """The index in force: the one held while it was checked less than ``refresh_s`` ago
        or while another task checks or rebuilds it, else the one for the database's present
        entries (rebuilt if they changed). Only the first call waits for a build."""
        if self._index is not None and (self._fresh(now) or self._lock.locked()):
            return self._index  # checked lately, or being checked: the index in force
        async with self._lock:
            if self._fresh(now) and self._index is not None:  # another task just checked
                return self._index
            fingerprint = await library_fingerprint(session)
            if self._index is None or fingerprint != self._fingerprint:
                # The engine (numpy, jieba: ~50 MB) is loaded by the first build, so a process
                # that never answers a question (a dispatcher, the CLI) never carries it.
                from hub.knowledge.engine import KnowledgeIndex

                entries = await load_entries(session)
                self._index = await asyncio.to_thread(KnowledgeIndex.build, entries, self.settings)
                self._fingerprint = fingerprint
                self.builds += 1
            self._checked_at = now
            return self._index

    def due(self, now: datetime) -> bool:
        """Whether :meth:`current` would read the database now (no index, or not checked
        within ``refresh_s``): a caller need not open a session otherwise."""
        return self._index is None or not self._fresh(now)

    def invalidate(self) -> None:
        """Check the database on the next :meth:`current` (a writer in this process saved)."""
        self._checked_at = None

    def _fresh(self, now: datetime) -> bool:
        if self._checked_at is None:
            return False
        age = now - self._checked_at
        return timedelta(0) <= age < timedelta(seconds=self.settings.refresh_s)
