"""A broken credit_warning/guidance.yaml: the processes refuse to start naming file, key and
line; ``hub import credit`` keeps the rows and says the warnings were not sent (exit 1)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.app.config import load_settings
from hub.app.processes import serve
from hub.cli import main
from hub.core.errors import ConfigError
from tests.importing.factories import make_uscc, write_csv_file

PROJECT_ROOT = Path(__file__).resolve().parents[2]
A = make_uscc(31)


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    return write_config()


def hub(config: Path, *args: str | Path) -> int:
    return main(["--config", str(config), *(str(arg) for arg in args)])


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


def test_the_processes_refuse_to_start_with_a_broken_guidance_file(config: Path) -> None:
    path = broken_guidance(config)
    with pytest.raises(ConfigError) as caught:
        asyncio.run(serve(load_settings(config), web=True, worker=True, scheduler=True))
    assert (caught.value.file, caught.value.key) == (
        str(path),
        "admin_penalty.earliest_after_months",
    )
    assert caught.value.line == line_of(path, "earliest_after_months: 三")


def test_a_credit_import_with_a_broken_guidance_file_keeps_the_rows_and_says_so(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    enterprises = write_csv_file(
        tmp_path / "e.csv", [["uscc", "name", "tier"], [A, "鹤城机械", "key"]]
    )
    assert hub(config, "import", "enterprises", enterprises) == 0
    broken_guidance(config)
    credit = write_csv_file(
        tmp_path / "credit.csv",
        [["event_id", "uscc", "type", "authority", "decided_on"],
         ["E1", A, "dishonest_debtor", "龙沙区人民法院", "2026-03-02"]],
    )  # fmt: skip
    capsys.readouterr()
    # Exit 1: the rows are saved, but the warnings need the file fixed (the daily run sends them).
    assert hub(config, "import", "credit", credit) == 1
    captured = capsys.readouterr()
    assert "信用事件新建 1" in captured.out
    assert "数据已保存，但信用警示未发出" in captured.err
    assert "guidance.yaml" in captured.err
    assert "每日的计划运行会补发" in captured.err
    assert (
        hub(config, "import", "credit", credit, "--json") == 0
    )  # nothing changed, nothing to send
    assert json.loads(capsys.readouterr().out)["unchanged"] == 1
    assert hub(config, "enterprises", "show", A, "--json") == 0
    assert json.loads(capsys.readouterr().out)["credit"]["value"] == "dishonest"
