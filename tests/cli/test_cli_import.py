"""``hub import enterprises FILE`` in-process: exit codes, output, rejects, formats, bad files."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.app.config import load_settings
from hub.cli import main
from tests.importing.factories import make_uscc, write_csv_file, write_xlsx_file, wrong_check

A, B, C, D = (make_uscc(n) for n in (11, 12, 13, 14))
HEADER = ["uscc", "name", "tier", "tags", "contact_name", "mobile"]
ROWS: list[list[str]] = [
    [A, "齐齐哈尔鹤城机械有限公司", "key", "专精特新;规上企业", "王伟", "13800138000"],
    [B, "龙沙区鑫盛烤肉店", "ordinary", "个体工商户", "李娜", "13904521001"],
]
Stored = Callable[[], list[tuple[Any, ...]]]


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    return write_config()


@pytest.fixture
def database(config: Path) -> Path:
    """The SQLite file the config points at (already migrated)."""
    path = sa.engine.make_url(load_settings(config).database_url).database
    assert path is not None
    return Path(path)


def hub(config: Path, *args: str | Path) -> int:
    return main(["--config", str(config), *(str(arg) for arg in args)])


@pytest.fixture
def stored(database: Path) -> Stored:
    """Reads (uscc, name, tier, contact name, mobile, updated_at) of every contact on record."""

    def read() -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(database)) as connection:
            return connection.execute(
                "SELECT e.uscc, e.name, e.tier, c.name, c.mobile, e.updated_at"
                " FROM enterprise e LEFT JOIN contact c ON c.enterprise_id = e.id"
                " ORDER BY e.uscc, c.id"
            ).fetchall()

    return read


def rejects_of(path: Path) -> Iterator[tuple[str, str]]:
    """(行号, 原因) of each row of the rejects file beside ``path``."""
    with path.with_name(path.stem + ".rejects.csv").open(encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            yield row["行号"], row["原因"]


def test_a_clean_file_exits_0_and_prints_the_counts(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], stored: Stored
) -> None:
    path = write_csv_file(tmp_path / "企业.csv", [HEADER, *ROWS])

    assert hub(config, "import", "enterprises", path) == 0

    out = capsys.readouterr().out
    assert "有效 2 行" in out
    assert "企业新建 2" in out
    assert "拒绝 0 行" in out
    assert [row[:5] for row in stored()] == [
        (A, "齐齐哈尔鹤城机械有限公司", "key", "王伟", "+8613800138000"),
        (B, "龙沙区鑫盛烤肉店", "ordinary", "李娜", "+8613904521001"),
    ]
    assert not (tmp_path / "企业.rejects.csv").exists()


@pytest.mark.parametrize(
    ("bad_rows", "reasons", "also_imported"),
    [
        pytest.param(
            [[wrong_check(C), "建华区恒达商贸有限公司", "general", "", "张敏", "15000150000"]],
            [("4", f"uscc“{wrong_check(C)}”校验位错误")],
            set(),
            id="uscc-check-character",
        ),
        pytest.param(
            [[C, "建华区恒达商贸有限公司", "general", "", "张敏", "1500015000"]],
            [("4", "mobile“1500015000”不是有效的手机号")],
            set(),
            id="mobile",
        ),
        pytest.param(
            [[C, "建华区恒达商贸有限公司", "vip", "", "张敏", "15000150000"]],
            [("4", "tier“vip”无效，应为 重点/一般/普通 或 key/general/ordinary")],
            set(),
            id="tier",
        ),
        pytest.param(
            [
                [C, "建华区恒达商贸有限公司", "general", "", "张敏", "15000150000"],
                [C, "建华区恒达商贸集团有限公司", "general", "", "赵静", "18600186000"],
            ],
            [("5", "与第 4 行的同一统一社会信用代码企业信息不一致：name")],
            {C},
            id="duplicate-uscc-conflicting",
        ),
        pytest.param(
            [
                [C, "建华区恒达商贸有限公司", "general", "", "张敏", "15000150000"],
                [D, "铁锋区宏达物流有限公司", "general", "", "张敏", "15000150000"],
                [D, "铁锋区宏达物流有限公司", "general", "", "孙丽", "15000150000"],
            ],
            [("6", "mobile“+8615000150000”已用于第 5 行的联系人，但两行联系人信息不一致")],
            {C, D},
            id="duplicate-contact-conflicting",
        ),
    ],
)
def test_rejected_rows_exit_1_and_the_valid_rows_are_still_imported(
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    stored: Stored,
    bad_rows: list[list[str]],
    reasons: list[tuple[str, str]],
    also_imported: set[str],
) -> None:
    path = write_csv_file(tmp_path / "企业.csv", [HEADER, *ROWS, *bad_rows])

    assert hub(config, "import", "enterprises", path) == 1

    out = capsys.readouterr().out
    assert f"拒绝 {len(reasons)} 行" in out
    assert "企业.rejects.csv" in out
    assert list(rejects_of(path)) == reasons
    assert {row[0] for row in stored()} == {A, B, *also_imported}


def test_a_gbk_csv_with_chinese_headers_is_imported(
    config: Path, tmp_path: Path, stored: Stored
) -> None:
    header = ["统一社会信用代码", "企业名称", "联络类别", "标签", "联系人", "手机"]
    rows = [[A, "齐齐哈尔鹤城机械有限公司", "重点", "专精特新；规上企业", "王伟", "138-0013-8000"]]
    path = write_csv_file(tmp_path / "企业名录.csv", [header, *rows], encoding="gbk")

    assert hub(config, "import", "enterprises", path) == 0

    assert [row[:5] for row in stored()] == [
        (A, "齐齐哈尔鹤城机械有限公司", "key", "王伟", "+8613800138000")
    ]


def test_an_xlsx_file_with_numeric_mobile_cells_is_imported(
    config: Path, tmp_path: Path, stored: Stored
) -> None:
    rows: list[Sequence[object]] = [
        HEADER,
        [A, "齐齐哈尔鹤城机械有限公司", "key", None, "王伟", 13800138000],
        [B, "龙沙区鑫盛烤肉店", "普通", "个体工商户", "李娜", 13904521001.0],  # a float cell
    ]
    path = write_xlsx_file(tmp_path / "企业名录.xlsx", rows)

    assert hub(config, "import", "enterprises", path) == 0

    assert [(row[0], row[4]) for row in stored()] == [(A, "+8613800138000"), (B, "+8613904521001")]


def test_json_prints_valid_created_updated_unchanged_and_rejected(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub(config, "import", "enterprises", write_csv_file(tmp_path / "v1.csv", [HEADER, *ROWS]))
    capsys.readouterr()
    second = [
        ROWS[0],  # unchanged
        [B, "龙沙区鑫盛烤肉店", "general", "个体工商户", "李娜", "13904521001"],  # updated
        [C, "建华区恒达商贸有限公司", "general", "", "张敏", "15000150000"],  # created
        [D, "铁锋区宏达物流有限公司", "vip", "", "孙丽", "18000180000"],  # rejected
    ]
    path = write_csv_file(tmp_path / "v2.csv", [HEADER, *second])

    assert hub(config, "import", "enterprises", path, "--json") == 1

    report = json.loads(capsys.readouterr().out)
    assert {
        key: report[key] for key in ("valid", "created", "updated", "unchanged", "rejected")
    } == {
        "valid": 3,
        "created": 1,
        "updated": 1,
        "unchanged": 1,
        "rejected": 1,
    }
    assert report["rejects_file"] == str(tmp_path / "v2.rejects.csv")


@pytest.mark.parametrize(
    ("make_file", "message"),
    [
        pytest.param(lambda folder: folder / "不存在.csv", "不存在.csv: 文件不存在", id="missing"),
        pytest.param(
            lambda folder: write_csv_file(
                folder / "表头.csv", [["uscc", "name", "tier", "mobil"], [C, "某公司", "key", ""]]
            ),
            "未知表头“mobil”（是否应为“mobile”？）",
            id="unknown-header",
        ),
    ],
)
def test_an_unusable_file_exits_non_zero_with_a_message_and_the_database_untouched(
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    stored: Stored,
    make_file: Callable[[Path], Path],
    message: str,
) -> None:
    hub(config, "import", "enterprises", write_csv_file(tmp_path / "ok.csv", [HEADER, *ROWS]))
    before = stored()
    capsys.readouterr()
    path = make_file(tmp_path)

    code = hub(config, "import", "enterprises", path)

    captured = capsys.readouterr()
    assert code != 0
    assert message in captured.err
    assert captured.out == ""
    assert stored() == before
    assert not path.with_name(path.stem + ".rejects.csv").exists()


def test_a_hundred_thousand_unknown_headers_give_a_short_message(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], stored: Stored
) -> None:
    """A row of data pasted as the header used to give one sentence per cell: 29 MB of error."""
    unknown = [f"列{n}" for n in range(100_000)]
    path = write_csv_file(tmp_path / "wide.csv", [["uscc", "name", "tier", *unknown]])

    code = hub(config, "import", "enterprises", path)

    err = capsys.readouterr().err
    assert code == 2
    assert len(err) < 2_000
    assert "未知表头“列0”、“列1”、“列2”、“列3”、“列4”等共 100000 个" in err
    assert err.count("可用的表头为") == 1
    assert stored() == []


def test_a_broken_byte_costs_its_row_and_the_exit_code_says_so(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], stored: Stored
) -> None:
    path = tmp_path / "gbk.csv"
    data = write_csv_file(path, [HEADER, *ROWS], encoding="gbk").read_bytes()
    path.write_bytes(data.replace("鑫".encode("gbk"), b"\xff", 1))

    code = hub(config, "import", "enterprises", path, "--json")

    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert (report["valid"], report["created"], report["rejected"]) == (1, 1, 1)
    assert [row[0] for row in stored()] == [A]
    with path.with_name("gbk.rejects.csv").open(encoding="utf-8-sig", newline="") as handle:
        [reject] = list(csv.DictReader(handle))
    assert reject["行号"] == "3"
    reason = "name第 7 个字节 0xFF 无法按 GBK 解码（“龙沙区\ufffd盛烤肉店”）"
    assert reject["原因"].startswith(reason)


def test_brackets_in_a_header_or_a_file_name_are_printed_as_they_are(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """rich read them as markup: ``[/x]`` crashed the command, ``[x]`` vanished."""
    path = write_csv_file(tmp_path / "表头.csv", [[*HEADER, "[/备注]", "[x]"], ROWS[0]])
    assert hub(config, "import", "enterprises", path) == 2
    err = capsys.readouterr().err
    assert "未知表头“[/备注]”" in err
    assert "未知表头“[x]”" in err

    rejected = [C, "某公司", "vip", "", "", ""]
    named = write_csv_file(tmp_path / "[red]企业[x].csv", [HEADER, *ROWS, rejected])
    assert hub(config, "import", "enterprises", named) == 1
    assert "[red]企业[x].rejects.csv" in capsys.readouterr().out.replace("\n", "")
