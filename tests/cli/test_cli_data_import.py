"""``hub import credit|policies|licences|annual-reports FILE`` in-process: exit codes, the counts,
what is new or changed (``--json``), and the rejects file."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.cli import main
from tests.importing.factories import make_uscc, write_csv_file, write_xlsx_file

A, B, UNKNOWN = make_uscc(21), make_uscc(22), make_uscc(98)


@pytest.fixture
def config(write_config: Callable[..., Path], tmp_path: Path) -> Path:
    """A config whose database holds enterprises A and B."""
    path = write_config()
    enterprises = write_csv_file(
        tmp_path / "enterprises.csv",
        [["uscc", "name", "tier"], [A, "鹤城机械", "key"], [B, "鑫盛烤肉店", "ordinary"]],
    )
    assert hub(path, "import", "enterprises", enterprises) == 0
    return path


def hub(config: Path, *args: str | Path) -> int:
    return main(["--config", str(config), *(str(arg) for arg in args)])


def test_credit_import_prints_counts_and_json_names_new_and_changed(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = ["事件编号", "统一社会信用代码", "类型", "认定机关", "认定日期"]
    path = write_csv_file(
        tmp_path / "credit.csv",
        [header, ["E1", A, "失信被执行人", "龙沙区人民法院", "2026-03-02"]],
        encoding="gbk",
    )
    capsys.readouterr()
    assert hub(config, "import", "credit", path) == 0
    out = capsys.readouterr().out
    assert "信用事件新建 1" in out
    assert "企业信用状态变化 1 家" in out
    assert hub(config, "enterprises", "list", "--audience", "credit=失信", "--json") == 0
    assert [e["uscc"] for e in json.loads(capsys.readouterr().out)] == [A]

    assert hub(config, "import", "credit", path, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["created"], report["unchanged"], report["new"], report["changed"]) == (
        0, 1, [], []
    )  # fmt: skip

    write_csv_file(
        path,
        [[*header, "状态"], ["E1", A, "失信被执行人", "龙沙区人民法院", "2026-03-02", "已移出"]],
        encoding="gbk",
    )
    assert hub(config, "import", "credit", path, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["updated"], report["changed"]) == (1, ["E1"])
    assert report["credit_status_changed"] == [{"uscc": A, "before": "dishonest", "after": "good"}]
    assert hub(config, "enterprises", "show", A, "--json") == 0
    dossier = json.loads(capsys.readouterr().out)
    assert dossier["credit"]["value"] == "good"
    assert [(c["event_id"], c["status"]) for c in dossier["credit_records"]] == [("E1", "removed")]


@pytest.mark.parametrize(
    ("kind", "rows", "reason"),
    [
        pytest.param(
            "policies",
            [["policy_id", "title", "apply_by"], ["P1", "好政策", "2026-12-31"],
             ["P2", "另一政策", "明年"]],
            "apply_by“明年”不是有效的日期，应如 2026-11-23",
            id="policies",
        ),
        pytest.param(
            "licences",
            [["uscc", "kind", "number", "expires_on"], [A, "排污许可证", "PW1", "2027-03-01"],
             [UNKNOWN, "排污许可证", "PW2", "2027-03-01"]],
            f"uscc“{UNKNOWN}”不存在，请先导入企业",
            id="licences",
        ),
        pytest.param(
            "annual-reports",
            [["统一社会信用代码", "年度", "公示日期"], [A, "2025", "2026-03-10"],
             [B, "2025", ""]],
            "公示日期不能为空",
            id="annual-reports",
        ),
    ],
)  # fmt: skip
def test_a_rejected_row_exits_1_and_the_good_rows_are_kept(
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    rows: list[list[str]],
    reason: str,
) -> None:
    path = write_xlsx_file(tmp_path / f"{kind}.xlsx", rows)
    capsys.readouterr()
    assert hub(config, "import", kind, path, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["created"], report["rejected"], len(report["new"])) == (1, 1, 1)
    with (tmp_path / f"{kind}.rejects.csv").open(encoding="utf-8-sig", newline="") as file:
        rejects = [(row["行号"], row["原因"]) for row in csv.DictReader(file)]
    assert len(rejects) == 1
    assert rejects[0][0] == "3"
    assert reason in rejects[0][1]


def test_the_dossier_shows_licences_and_annual_reports(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    licences = write_csv_file(
        tmp_path / "licences.csv",
        [["uscc", "kind", "number", "expires_on", "renewed_on"],
         [A, "食品经营许可证", "JY123", "2027-05-01", ""],
         [A, "排污许可证", "PW-001", "2027-03-01", "2026-11-20"]],
    )  # fmt: skip
    filings = write_csv_file(
        tmp_path / "annual.csv", [["uscc", "year", "filed_on"], [A, "2025", "2026-03-10"]]
    )
    assert hub(config, "import", "licences", licences) == 0
    assert hub(config, "import", "annual-reports", filings) == 0
    capsys.readouterr()
    assert hub(config, "enterprises", "show", A, "--json") == 0
    dossier = json.loads(capsys.readouterr().out)
    assert [(lic["number"], lic["renewed_on"]) for lic in dossier["licences"]] == [
        ("PW-001", "2026-11-20"), ("JY123", None)
    ]  # fmt: skip
    assert dossier["annual_reports"] == [{"year": 2025, "filed_on": "2026-03-10"}]
    assert hub(config, "enterprises", "show", A) == 0
    out = capsys.readouterr().out
    assert "食品经营许可证" in out
    assert "2025 年度（2026-03-10 公示）" in out
