"""What smart answers read from config.yaml: ``answers:``.

- ``enabled``: whether a question in a reply is answered automatically at all (false: every
  question becomes a ticket as before, the suggestions are still computed for the handler);
- ``min_score``: the calibrated score (0..1, the question's match against an entry relative to
  the question's match against itself, see :mod:`hub.knowledge.engine`) the best entry needs;
- ``min_margin``: how far the best entry must lead the runner-up (an entry giving a different
  answer) on the same scale, so that two close entries hand the question to a person;
- ``refresh_s``: how often, at most, a process checks whether the FAQ entries or policies changed
  (a cheap count + last-update query) and rebuilds its index.

The thresholds were chosen on the evaluation set (tests/knowledge/eval/questions.csv) by
:func:`hub.knowledge.evaluation.choose_thresholds`, the figures in and out of sample in
docs/design.md "Smart answers".
"""

from __future__ import annotations

from pydantic import Field

from hub.core.settings import FrozenSettings

__all__ = ["AnswerSettings"]


class AnswerSettings(FrozenSettings):
    """``answers:`` (the defaults are the thresholds chosen on the evaluation set)."""

    enabled: bool = True
    min_score: float = Field(default=0.41, ge=0, le=1)
    min_margin: float = Field(default=0.06, ge=0, le=1)
    refresh_s: float = Field(default=30.0, ge=0, le=3600)
