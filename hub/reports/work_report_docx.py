"""The half-yearly work report as a Word document (python-docx), with charts (matplotlib PNGs).

Laid out as offices write one: a title, the period, then 一、二、三… sections, each a short
paragraph of the figures, a table, and where it helps a chart; 说明 at the end says how each
figure is counted. Text is Chinese, in the document (Word draws it with the reader's fonts).
The charts' own labels are ASCII only (channel and tier codes, month numbers): a machine
without CJK fonts (CI, a server) draws them the same, and each chart's caption in the document
names what the codes mean.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from hub.core.errors import UsageError
from hub.core.vocab import ChannelName, MessageKind, Tier
from hub.reports.work_report import MessageCounts, WorkReport

CHINESE_NUMBERS = ("一", "二", "三", "四", "五", "六", "七", "八")
NOTES = (
    "消息：报告期内生成的全部消息。已发出为已发送或已送达；送达以服务商回执为准；"
    "失败含多次重试后仍失败的；未发送为无可用地址、已退订或超过频次上限的。"
    "发送成功率 = 已发出 ÷（已发出 + 失败）；送达率 = 送达 ÷ 已发出。",
    "回复率 = 报告期内发给企业联系人且已发出的消息中，收到企业回复的条数 ÷ 这些消息条数。",
    "诉求：按月度报表口径逐月统计后相加；超期未办结为报告期末（或生成时）已过办理时限仍未办结的件数。"
    "好评率 = 基本满意及以上的有效评价 ÷ 有效评价（恶意差评不计入）。"
    "回访为报告期内各月对上月办结工单开展的回访。",
    "走访：按各层级走访周期（重点类每季度、一般类每半年、普通类每年）统计报告期内应走访的次数；"
    "按时完成为在周期内完成，逾期完成为周期结束后补访，未完成为周期已结束仍未走访或已登记未走访。",
    "信用：报告期内认定的信用事件为信用警示，报告期内修复或移出的为信用修复。",
    "政策：报告期内推送的政策；覆盖企业为至少一条推送消息已发出的企业数。",
)


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _heading(doc: DocumentObject, number: int, text: str) -> None:
    doc.add_heading(f"{CHINESE_NUMBERS[number]}、{text}", level=1)


def _table(doc: DocumentObject, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = doc.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    for cell, header in zip(table.rows[0].cells, headers, strict=True):
        cell.text = header
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for values in rows:
        cells = table.add_row().cells
        for cell, value in zip(cells, values, strict=True):
            cell.text = str(value)
    doc.add_paragraph()


def _chart(doc: DocumentObject, png: bytes, caption: str) -> None:
    doc.add_picture(io.BytesIO(png), width=Cm(15))
    doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
    note = doc.add_paragraph(caption)
    note.alignment = WD_ALIGN_PARAGRAPH.CENTER


def bar_chart(
    categories: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], title: str
) -> bytes:
    """A grouped bar chart as PNG bytes; every label must be ASCII (see the module docstring)."""
    # matplotlib (~40 MB with numpy) only where a report is drawn; the OO API, no pyplot state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3.2), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series):
        positions = [x + (i - (len(series) - 1) / 2) * width for x in range(len(categories))]
        bars = axes.bar(positions, values, width, label=name)
        axes.bar_label(bars, fontsize=8)
    axes.set_xticks(range(len(categories)), list(categories))
    axes.set_title(title)
    if len(series) > 1:
        axes.legend(fontsize=8)
    axes.margins(y=0.15)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _counts_row(c: MessageCounts) -> list[Any]:
    return [c.name, c.messages, c.sent, c.delivered, c.failed, c.skipped,
            _rate(c.sent_rate), _rate(c.delivered_rate)]  # fmt: skip


_COUNT_HEADERS = ("", "消息数", "已发出", "送达", "失败", "未发送", "发送成功率", "送达率")


def build_document(report: WorkReport, hub_name: str = "主动服务") -> DocumentObject:
    """The document for a report (not saved)."""
    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.size = Pt(11)
    # East Asian text in the body font Word offers for Chinese (宋体), whatever the locale.
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "宋体")
    title = doc.add_heading(f"{hub_name}工作情况报告（{report.title}）", level=0)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    half = report.half
    doc.add_paragraph(
        f"报告期：{half.first.year}年{half.first.month}月{half.first.day}日至"
        f"{half.last.year}年{half.last.month}月{half.last.day}日。生成时间：{report.generated_at}。"
    )
    _messages_section(doc, report, 0)
    _tickets_section(doc, report, 1)
    _visits_section(doc, report, 2)
    _credit_section(doc, report, 3)
    _policies_section(doc, report, 4)
    _heading(doc, 5, "说明")
    for line in NOTES:
        doc.add_paragraph(line)
    return doc


def _messages_section(doc: DocumentObject, report: WorkReport, n: int) -> None:
    _heading(doc, n, "消息触达")
    m = report.messages
    doc.add_paragraph(
        f"{report.title}共生成消息{m.messages}条，已发出{m.sent}条，送达{m.delivered}条，"
        f"失败{m.failed}条，未发送{m.skipped}条；发送成功率{_rate(m.sent_rate)}，"
        f"送达率{_rate(m.delivered_rate)}。收到企业回复{report.replies}条，"
        f"回复率{_rate(report.reply_rate)}。"
    )
    doc.add_paragraph("（一）按渠道")
    _table(doc, ("渠道", *_COUNT_HEADERS[1:]), [_counts_row(c) for c in (*report.by_channel, m)])
    if report.by_channel:
        codes = [c.code for c in report.by_channel]
        png = bar_chart(codes, [("sent", [c.sent for c in report.by_channel]),
                                ("failed", [c.failed for c in report.by_channel])],
                        "Messages by channel")  # fmt: skip
        names = "，".join(f"{c}为{ChannelName(c).label}" for c in codes)
        _chart(doc, png, f"图1 各渠道已发出（sent）与失败（failed）消息数（{names}）")
    doc.add_paragraph("（二）按消息类型")
    _table(doc, ("消息类型", *_COUNT_HEADERS[1:]), [_counts_row(c) for c in report.by_kind])


def _tickets_section(doc: DocumentObject, report: WorkReport, n: int) -> None:
    _heading(doc, n, "诉求办理")
    t = report.tickets
    doc.add_paragraph(
        f"受理企业诉求{t.received}件，办结{t.resolved}件，其中按时办结{t.on_time}件、"
        f"超期办结{t.resolved_late}件；期末超期未办结{t.overdue_open}件；批准延期{t.extensions}次。"
        f"有效评价{t.rated}件，好评率{_rate(t.good_rate)}；差评{t.bad_ratings}件，已整改"
        f"{t.rectified}件。回访{t.surveyed}件（应回访{t.previous_resolved}件，"
        f"覆盖率{_rate(t.callback_coverage)}）。"
    )
    on_time = t.on_time / t.resolved if t.resolved else None
    _table(
        doc,
        ("受理", "办结", "按时办结", "按时办结率", "超期办结", "超期未办结", "延期",
         "有效评价", "好评率", "差评", "已整改", "回访"),
        [(t.received, t.resolved, t.on_time, _rate(on_time), t.resolved_late, t.overdue_open,
          t.extensions, t.rated, _rate(t.good_rate), t.bad_ratings, t.rectified, t.surveyed)],
    )  # fmt: skip
    _table(doc, ("月份", "受理", "办结"),
           [(m.month, m.received, m.resolved) for m in report.months])  # fmt: skip
    png = bar_chart([m.month[-2:] for m in report.months],
                    [("received", [m.received for m in report.months]),
                     ("resolved", [m.resolved for m in report.months])],
                    f"Requests {report.half.label}")  # fmt: skip
    _chart(doc, png, "图2 各月受理（received）与办结（resolved）诉求件数（横轴为月份）")


def _visits_section(doc: DocumentObject, report: WorkReport, n: int) -> None:
    _heading(doc, n, "走访联系")
    visits = report.visits
    if visits is None:
        doc.add_paragraph("本期无走访数据。")
        return
    total = visits.total
    doc.add_paragraph(
        f"报告期内应走访{total.due}次，完成{total.done}次（按时{total.on_time}次、逾期"
        f"{total.late}次），未完成{total.missed}次，完成率{_rate(total.done_rate)}，"
        f"按时率{_rate(total.on_time_rate)}。"
    )
    rows = [(f.name, f.due, f.on_time, f.late, f.missed, f.in_progress, _rate(f.done_rate),
             _rate(f.on_time_rate)) for f in (*visits.by_tier, total)]  # fmt: skip
    _table(doc, ("企业层级", "应走访", "按时完成", "逾期完成", "未完成", "进行中", "完成率",
                 "按时率"), rows)  # fmt: skip
    if visits.by_tier:
        codes = [f.code for f in visits.by_tier]
        png = bar_chart(codes, [("due", [f.due for f in visits.by_tier]),
                                ("done", [f.done for f in visits.by_tier])],
                        "Visits by tier")  # fmt: skip
        names = "，".join(f"{c}为{_tier_label(c)}" for c in codes)
        _chart(doc, png, f"图3 各层级应走访（due）与已完成（done）次数（{names}）")
    if visits.contact:
        doc.add_paragraph("重点企业月度联系：")
        _table(doc, ("月份", "应联系企业", "已联系", "覆盖率"),
               [(m.month, m.total.total, m.total.contacted, _rate(m.total.coverage))
                for m in visits.contact])  # fmt: skip


def _tier_label(code: str) -> str:
    try:
        return Tier(code).label
    except ValueError:
        return code


def _credit_section(doc: DocumentObject, report: WorkReport, n: int) -> None:
    _heading(doc, n, "信用监测与修复")
    c = report.credit
    warned = sum(k.sent for k in report.by_kind if k.code == MessageKind.CREDIT_WARNING.value)
    doc.add_paragraph(
        f"报告期内新认定信用事件{c.warnings}条，发出信用警示及修复指引消息{warned}条；"
        f"完成信用修复{c.repaired}条，移出名录{c.removed}条。"
    )
    _table(doc, ("事件类型", "新认定"),
           [*((kind.label, count) for kind, count in c.decided.items()),
            ("合计", c.warnings), ("已修复", c.repaired), ("已移出", c.removed)])  # fmt: skip


def _policies_section(doc: DocumentObject, report: WorkReport, n: int) -> None:
    _heading(doc, n, "政策推送")
    policies = report.policies
    reached = sum(p.enterprises for p in policies)
    doc.add_paragraph(
        f"报告期内推送政策{len(policies)}项，覆盖企业{reached}家次，"
        f"收到企业回复{sum(p.replies for p in policies)}条。"
    )
    _table(doc, ("政策编号", "政策名称", "覆盖企业", "消息数", "回复数"),
           [(p.policy_id, p.title, p.enterprises, p.messages, p.replies)
            for p in policies])  # fmt: skip


def write_document(report: WorkReport, path: Path, hub_name: str = "主动服务") -> Path:
    """Save the report's document; ``UsageError`` naming the file when it cannot be written."""
    if path.suffix.lower() != ".docx":
        raise UsageError(f"工作报告文件须以 .docx 结尾：{path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        build_document(report, hub_name).save(str(path))
    except OSError as exc:
        raise UsageError(f"无法写入工作报告文件 {path}：{exc.strerror or exc}") from exc
    return path


__all__ = ["bar_chart", "build_document", "write_document"]
