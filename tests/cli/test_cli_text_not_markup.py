"""What ``hub`` prints is text: brackets that users typed are printed as they are.

rich read ``[x]`` in a printed line as a style (it vanished) and failed on ``[/x]`` with a
MarkupError that crashed the command with a traceback instead of its message. Config paths,
arguments echoed in errors, and names from the registry all reach these lines.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hub.cli import main
from tests.importing.factories import make_uscc, write_csv_file

HEADER = ["uscc", "name", "tier", "tags", "contact_name", "mobile"]


def test_a_config_error_names_the_path_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for folder in ("[/备注]", "[x]"):
        missing = tmp_path / folder / "config.yaml"
        assert main(["--config", str(missing), "config", "check"]) == 2
        err = capsys.readouterr().err.replace("\n", "")
        assert "配置错误" in err
        assert f"{folder}/config.yaml" in err


def test_a_usage_error_repeats_the_argument_as_it_is(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config()
    for argument in ("[/x]", "[red]"):
        assert main(["--config", str(config), "enterprises", "show", argument]) == 2
        err = capsys.readouterr().err.replace("\n", "")
        assert f"用法错误 统一社会信用代码“{argument}”无效" in err


def test_an_enterprise_name_with_brackets_is_shown_as_it_is(
    write_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config()
    uscc = make_uscc(21)
    name = "[x]鹤城[/备注]机械有限公司"
    path = write_csv_file(
        tmp_path / "企业.csv", [HEADER, [uscc, name, "key", "", "王伟", "13800138000"]]
    )
    assert main(["--config", str(config), "import", "enterprises", str(path)]) == 0
    capsys.readouterr()

    assert main(["--config", str(config), "enterprises", "show", uscc]) == 0
    assert f"{name}  {uscc}" in capsys.readouterr().out
