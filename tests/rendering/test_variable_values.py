"""`--set` text becomes the type meta.yaml declares (by its default, else its example)."""

from __future__ import annotations

import pytest

from hub.core.errors import UsageError
from hub.rendering.template_spec import Variable
from hub.rendering.variable_values import declared_type, typed_variables

FREE_APPLY = Variable("free_apply", "是否免申即享", example=False, default=False)
WORKDAYS = Variable("extra_workdays", "延长的工作日数", example=5)
SHARE = Variable("share", "比例", example=0.5)
STATUS = Variable("status", "工单当前状态", example="已受理")


def test_the_declared_type_is_the_yaml_type_of_the_default_else_the_example() -> None:
    assert declared_type(FREE_APPLY) is bool
    assert declared_type(WORKDAYS) is int
    assert declared_type(SHARE) is float
    assert declared_type(STATUS) is None
    assert declared_type(Variable("x", "", example="文字", default=0)) is int
    assert declared_type(Variable("x", "")) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("false", False), ("FALSE", False), ("否", False), (" true ", True), ("是", True)],
)
def test_a_yes_no_variable_takes_true_false_or_shi_fou(text: str, value: bool) -> None:
    assert typed_variables({"free_apply": text}, [FREE_APPLY]) == {"free_apply": value}


def test_numbers_become_numbers_only_where_declared() -> None:
    declared = [WORKDAYS, SHARE, STATUS]
    values = {"extra_workdays": "5", "share": "2.5", "status": "10", "year": "2026"}
    assert typed_variables(values, declared) == {
        "extra_workdays": 5, "share": 2.5, "status": "10", "year": "2026",
    }  # fmt: skip


def test_undeclared_true_false_are_booleans_and_shi_fou_stay_text() -> None:
    values = {"flag": "False", "other": "true", "answer": "是", "text": "false positive"}
    assert typed_variables(values, [STATUS]) == {
        "flag": False, "other": True, "answer": "是", "text": "false positive",
    }  # fmt: skip


def test_a_text_variable_keeps_the_word_false() -> None:
    assert typed_variables({"status": "false"}, [STATUS]) == {"status": "false"}


@pytest.mark.parametrize(
    ("variable", "text", "said"),
    [
        (FREE_APPLY, "maybe", "变量 free_apply 应为是非（true/false 或 是/否），收到“maybe”"),
        (FREE_APPLY, "1", "变量 free_apply 应为是非"),
        (WORKDAYS, "五", "变量 extra_workdays 应为整数，收到“五”"),
        (WORKDAYS, "2.5", "变量 extra_workdays 应为整数"),
        (SHARE, "一半", "变量 share 应为数字"),
    ],
)
def test_a_value_that_does_not_fit_its_type_is_refused_naming_the_key(
    variable: Variable, text: str, said: str
) -> None:
    with pytest.raises(UsageError) as refused:
        typed_variables({variable.name: text}, [variable])
    assert said in str(refused.value)
    assert str(refused.value).startswith(f"--set {variable.name}={text}：")
