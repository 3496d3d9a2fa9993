"""An approved SMS text split once at its placeholders fills as the regular expression does."""

from __future__ import annotations

import pytest

from hub.rendering.sms_text import Placeholders, fill_placeholders


@pytest.mark.parametrize(
    "approved",
    [
        "${name}：请于${deadline}前申报${title}",
        "${a}${b}",
        "开头${a}，又见${a}，{1} 与 {{ 花括号 }} 照原样",
        "没有占位符",
        "",
    ],
)
def test_the_split_text_fills_as_the_placeholders_are_replaced(approved: str) -> None:
    names = ["title", "name", "deadline", "a", "b"]
    values = ["专精特新奖补", "甲机械", "12月15日", "甲", "乙"]
    split = Placeholders.split(approved, names)
    assert split is not None
    assert split.fill(values) == fill_placeholders(approved, dict(zip(names, values, strict=True)))


def test_a_placeholder_without_a_parameter_is_left_to_fill_placeholders() -> None:
    assert Placeholders.split("${name}：${unknown}", ["name"]) is None
