"""``hub schedules sync`` and ``hub templates check`` hold the schedules to their templates (a
variable the template needs comes from the program or the schedule) and to their program's own
rules; ``hub templates check`` reads credit_warning/guidance.yaml."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.cli import main

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = """\
description: 每月推送惠企政策
cron: "0 9 1 * *"
program: campaign
audience: tier=key
kind: policy_push
"""


@pytest.fixture
def config(write_config: Callable[..., Path], tmp_path: Path) -> Path:
    """A config with the shipped schedules beside it (templates: the shipped ones)."""
    shutil.copytree(PROJECT_ROOT / "schedules", tmp_path / "schedules")
    return write_config()


def hub(config: Path, *args: str | Path) -> int:
    return main(["--config", str(config), *(str(arg) for arg in args)])


def write_schedule(config: Path, name: str, text: str) -> Path:
    path = config.parent / "schedules" / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def broken_guidance(config: Path) -> Path:
    """templates/ beside config.yaml, its guidance.yaml with a month that is no number."""
    shutil.copytree(PROJECT_ROOT / "templates", config.parent / "templates")
    path = config.parent / "templates" / "credit_warning" / "guidance.yaml"
    text = path.read_text(encoding="utf-8")
    assert "earliest_after_months: 3" in text
    path.write_text(text.replace("earliest_after_months: 3", "earliest_after_months: 三"),
                    encoding="utf-8")  # fmt: skip
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


def test_the_shipped_schedules_sync_and_pass_the_template_check(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(config, "templates", "check", "--no-db") == 0, capsys.readouterr().out
    capsys.readouterr()
    assert hub(config, "schedules", "sync", "--json") == 0, capsys.readouterr().err
    synced = json.loads(capsys.readouterr().out)
    assert synced["created"] == sorted(p.stem for p in (PROJECT_ROOT / "schedules").glob("*.yaml"))


def test_a_policy_push_campaign_without_policy_title_is_refused_by_sync_and_check(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_schedule(config, "monthly_push", CAMPAIGN)
    capsys.readouterr()
    assert hub(config, "schedules", "sync") == 2
    error = capsys.readouterr().err
    assert f"{path}:5" in error  # the kind: line
    for named in ("policy_push", "policy_title", "campaign", "variables:", "policy_match"):
        assert named in error, named
    assert hub(config, "schedules", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []  # nothing synced

    assert hub(config, "templates", "check", "--no-db") == 1
    output = capsys.readouterr().out
    assert f"{path}:5: kind:" in output
    assert "policy_title" in output

    # The schedule may supply it itself.
    write_schedule(config, "monthly_push", CAMPAIGN + "variables:\n  policy_title: 技改补贴\n")
    assert hub(config, "schedules", "sync") == 0, capsys.readouterr().err
    assert hub(config, "templates", "check", "--no-db") == 0


def test_a_bad_licence_days_is_refused_at_sync_naming_its_key_and_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config.parent / "schedules" / "procedure_reminder.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace('"60,30,7"', '"60,三十,7"'), encoding="utf-8"
    )
    capsys.readouterr()
    assert hub(config, "schedules", "sync") == 2
    error = capsys.readouterr().err
    assert f"{path}:{line_of(path, 'licence_days:')}: variables.licence_days:" in error
    assert "60,三十,7" in error
    assert hub(config, "templates", "check", "--no-db") == 1
    assert "variables.licence_days" in capsys.readouterr().out


def test_templates_check_names_a_broken_guidance_file_its_key_and_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = broken_guidance(config)
    capsys.readouterr()
    assert hub(config, "templates", "check", "--no-db") == 1
    output = capsys.readouterr().out
    line = line_of(path, "earliest_after_months: 三")
    assert f"{path}:{line}: admin_penalty.earliest_after_months:" in output
