"""The ``tickets:`` section of config.yaml: defaults, rules, and errors that name key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.app.config import load_settings
from hub.core.errors import ConfigError
from hub.core.vocab import TicketCategory
from hub.tickets.settings import TicketsSettings

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_config_has_the_defaults() -> None:
    tickets = load_settings(ROOT / "config.yaml", env={}).tickets
    assert tickets == TicketsSettings()
    assert (tickets.append_window_hours, tickets.rectify_workdays) == (72, 15)
    assert (tickets.rating_reminder_after_workdays, tickets.no_rating_close_after_workdays) == (
        3,
        10,
    )


def test_rules_load_in_order(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "tickets:\n"
        "  default_department: SJJ\n"
        "  rules:\n"
        "    - {keywords: [停电, 电价], department: FGW}\n"
        "    - {category: 投诉, industry: 制造业, department: GXJ}\n",
        encoding="utf-8",
    )
    tickets = load_settings(path, env={}).tickets
    assert [r.department for r in tickets.rules] == ["FGW", "GXJ"]
    assert tickets.rules[0].keywords == ("停电", "电价")
    assert tickets.rules[1].category is TicketCategory.COMPLAINT


@pytest.mark.parametrize(
    ("yaml_text", "key", "line"),
    [
        ("tickets:\n  rules:\n    - {department: FGW}\n", "tickets.rules.0", 3),
        ("tickets:\n  rules:\n    - {keywords: [a]}\n", "tickets.rules.0.department", 3),
        ("tickets:\n  append_window_hours: -1\n", "tickets.append_window_hours", 2),
        ("tickets:\n  rules: []\n  rectfy_workdays: 15\n", "tickets.rectfy_workdays", 3),
        (
            "tickets:\n  rating_reminder_after_workdays: 5\n  no_rating_close_after_workdays: 4\n",
            "tickets",
            1,
        ),
    ],
)
def test_errors_name_the_key_and_line(tmp_path: Path, yaml_text: str, key: str, line: int) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert (info.value.key, info.value.line) == (key, line)
