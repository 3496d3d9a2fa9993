"""Log lines carry the time in the hub's zone with its offset (+08:00), like every time the
hub prints; structlog's own stamper wrote the machine's time (UTC here) without an offset."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import structlog

from hub.core.clock import SHANGHAI
from hub.core.logs import configure_logging


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize("json_output", [False, True])
def test_log_lines_are_stamped_in_shanghai_time_with_the_offset(
    capsys: pytest.CaptureFixture[str], json_output: bool
) -> None:
    configure_logging("INFO", json_output=json_output)
    structlog.get_logger("test").info("hub started", mobile="+8613900000001")
    line = capsys.readouterr().err.strip()
    stamp = json.loads(line)["timestamp"] if json_output else line.split(" ", 1)[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00", stamp), line
    assert abs(datetime.fromisoformat(stamp) - datetime.now(SHANGHAI)) < timedelta(minutes=1)
    assert "13900000001" not in line  # still masked
