"""A schedule's templates get every variable they need (from the program, the schedule's
``variables:`` or the standard ones), and a seed program checks its own variables, when the
schedule is loaded rather than when it fires."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.core.errors import ConfigError
from hub.rendering.templates import load_folder
from hub.scheduling.programs import PROGRAMS
from hub.scheduling.schedules import load_schedules, parse_spec, template_needs

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NEEDS = template_needs(load_folder(PROJECT_ROOT / "templates").catalog)


def test_template_needs_are_the_required_variables_without_a_default() -> None:
    assert NEEDS["policy_push"] == {"policy_title"}  # summary, deadline, url have defaults
    assert "enterprise" not in NEEDS["credit_warning"]  # standard: the outbox supplies it
    assert {"risk_item", "found_on"} <= NEEDS["credit_warning"]


def test_every_shipped_schedule_gets_what_its_templates_need() -> None:
    specs = load_schedules(PROJECT_ROOT / "schedules", needs=NEEDS)
    assert {s.program for s in specs} == set(PROGRAMS)


def test_a_campaign_of_policy_push_without_policy_title_is_refused() -> None:
    data = {"cron": "0 9 1 * *", "audience": "tier=key", "kind": "policy_push"}
    with pytest.raises(ConfigError) as caught:
        parse_spec(data, default_name="push", file="schedules/push.yaml",
                   lines={("kind",): 4}, needs=NEEDS)  # fmt: skip
    error = caught.value
    assert (error.file, error.key, error.line) == ("schedules/push.yaml", "kind", 4)
    for named in ("policy_push", "policy_title", "variables:", "policy_match"):
        assert named in error.reason, named
    # Supplied by the schedule, or by the program that sends policies: accepted.
    parse_spec({**data, "variables": {"policy_title": "技改补贴"}}, default_name="push",
               file="f", needs=NEEDS)  # fmt: skip
    parse_spec({**data, "program": "policy_match"}, default_name="push", file="f", needs=NEEDS)


def test_every_kind_a_seed_program_sends_is_checked() -> None:
    needs = {**NEEDS, "credit_report_digest": NEEDS["credit_report_digest"] | {"weather"}}
    with pytest.raises(ConfigError, match="credit_report_digest 的模板需要变量 weather"):
        parse_spec({"cron": "0 9 1 1,7 *", "program": "credit_report"}, default_name="r",
                   file="f", needs=needs)  # fmt: skip


def test_a_campaign_of_a_program_kind_names_every_missing_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_spec({"cron": "0 9 * * *", "audience": "all", "kind": "procedure_reminder"},
                   default_name="weekly", file="f", needs=NEEDS)  # fmt: skip
    assert "days_left、due_date、item、item_type、where" in caught.value.reason
    assert "procedure_reminders" in caught.value.reason


@pytest.mark.parametrize("days", ["60,abc", "0", True, "60,-7"])
def test_the_program_checks_its_variables_when_the_schedule_is_read(days: object) -> None:
    data = {"cron": "0 9 * * *", "program": "procedure_reminders",
            "variables": {"licence_days": days}}  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        # No needs: a stored version read back is checked as well.
        parse_spec(data, default_name="p", file="f", lines={("variables", "licence_days"): 9})
    assert (caught.value.key, caught.value.line) == ("variables.licence_days", 9)
    assert "60,30,7" in caught.value.reason


def test_good_licence_days_pass_the_program_check() -> None:
    data = {"cron": "0 9 * * *", "program": "procedure_reminders",
            "variables": {"licence_days": "90, 30"}}  # fmt: skip
    spec = parse_spec(data, default_name="p", file="f")
    assert spec.variables["licence_days"] == "90, 30"
