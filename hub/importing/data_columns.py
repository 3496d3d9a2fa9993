"""The headers of the enterprise-data imports (credit, policies, licences, annual reports).

Matched like the registry's (``hub.importing.columns``): English or Chinese, after NFKC,
ignoring case, spaces, ``_`` and ``-``. The API takes the English names as JSON fields and is
validated by the same rows (``api_names``).
"""

from __future__ import annotations

from hub.importing.columns import Column, ColumnSet, HeaderMap

__all__ = [
    "ANNUAL_REPORT_COLUMNS",
    "CREDIT_COLUMNS",
    "LICENCE_COLUMNS",
    "POLICY_COLUMNS",
    "api_names",
]

CREDIT_COLUMNS = ColumnSet(
    "credit",
    (
        Column("event_id", "事件编号", required=True, max_length=64),
        Column("uscc", "统一社会信用代码", required=True),
        Column("type", "类型", required=True),
        Column("authority", "认定机关", required=True, max_length=128),
        Column("decided_on", "认定日期", required=True),
        Column("summary", "事由"),
        Column("status", "状态"),
        Column("repaired_on", "修复日期"),
    ),
)

POLICY_COLUMNS = ColumnSet(
    "policies",
    (
        Column("policy_id", "政策编号", required=True, max_length=64),
        Column("title", "政策名称", required=True, max_length=256),
        Column("summary", "摘要"),
        Column("department", "发布部门", max_length=128),
        Column("apply_by", "申报截止"),
        Column("free_apply", "免申即享"),
        Column("url", "链接", max_length=512),
        Column("industries", "行业", max_length=64),
        Column("tiers", "联络类别"),
        Column("regions", "区域", max_length=64),
        Column("stages", "阶段"),
        Column("tags", "标签", max_length=64),
        Column("text", "正文"),
    ),
)

LICENCE_COLUMNS = ColumnSet(
    "licences",
    (
        Column("uscc", "统一社会信用代码", required=True),
        Column("kind", "证照类型", required=True, max_length=64),
        Column("number", "证照编号", required=True, max_length=64),
        Column("expires_on", "有效期至", required=True),
        Column("authority", "发证机关", max_length=128),
        Column("renewed_on", "已换证日期"),
    ),
)

ANNUAL_REPORT_COLUMNS = ColumnSet(
    "annual-reports",
    (
        Column("uscc", "统一社会信用代码", required=True),
        Column("year", "年度", required=True),
        Column("filed_on", "公示日期", required=True),
    ),
)


def api_names(columns: ColumnSet) -> HeaderMap:
    """The columns as the API names them (the English field names), for validating a JSON body
    with the same rules as a file's row."""
    return HeaderMap(columns, {column.field: column.field for column in columns.columns})
