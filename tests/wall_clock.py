"""Config for tests whose hub processes run on the system clock (CLI commands, subprocesses).

Quiet hours (21:00-08:00 Shanghai by default) would hold their messages whenever CI happens to
run in the evening; these tests are about something else, so no kind is held.
"""

from __future__ import annotations

from typing import Any

from hub.core.vocab import MessageKind

NEVER_QUIET: dict[str, Any] = {"bypass": [kind.value for kind in MessageKind]}
