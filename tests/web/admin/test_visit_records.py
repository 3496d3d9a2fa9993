"""A visit's records as the visit page words them: labelled, times in Beijing, one line per
answer; what the page does not know is shown as written."""

from __future__ import annotations

from hub.core.clock import SHANGHAI
from hub.web.admin.visit_records import local_time, record_lines


def test_a_completion_reads_as_labelled_words_in_beijing_time() -> None:
    done = {"at": "2026-11-23T02:00:00+00:00", "by": "demo-dispatcher"}
    assert record_lines(done, SHANGHAI) == ["时间：2026-11-23 10:00；登记人：demo-dispatcher"]


def test_every_answer_is_a_line_with_its_action_slot_and_source_named() -> None:
    answers = [
        {"at": "2026-11-23T02:00:00+00:00", "source": "reply:7", "action": "slot", "text": "2",
         "slot": 2, "time": "2026-12-03T01:30:00+00:00"},
        {"at": "2026-11-24T03:00:00+00:00", "source": "button", "action": "reschedule",
         "text": "下周二晚上7点", "proposed_time": "2026-12-01T11:00:00+00:00",
         "proposed_text": "下周二晚上7点", "not_confirmed": "不在工作时间（09:00–17:30）内"},
    ]  # fmt: skip
    assert record_lines(answers, SHANGHAI) == [
        "时间：2026-11-23 10:00；来源：回复 #7；答复：选择时段；原文：2；所选时段：第 2 个；"
        "时段：2026-12-03 09:30",
        "时间：2026-11-24 11:00；来源：button；答复：改期；原文：下周二晚上7点；"
        "提出时间：2026-12-01 19:00；提出的说法：下周二晚上7点；"
        "未确认原因：不在工作时间（09:00–17:30）内",
    ]


def test_what_the_page_does_not_know_is_shown_as_written() -> None:
    assert record_lines(3, SHANGHAI) == ["3"]
    assert record_lines({"odd": "x", "at": None}, SHANGHAI) == ["odd：x"]
    assert record_lines([], SHANGHAI) == ["—"]
    assert record_lines("2026-12-01", SHANGHAI) == ["2026-12-01"]  # a date stays a date
    assert local_time("2026年", SHANGHAI) is None
    assert local_time("2026-13-01T00:00", SHANGHAI) is None
