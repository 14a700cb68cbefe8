"""The printable sign sheet of wage step 2 (工人签字工资单, issue 8 point 6): a .docx from the accepted table.

Contract: `build_sign_sheet(header, lines, labels)` is pure — no database, no clock, no Flask —
and returns the bytes of a Word document (python-docx), A4 portrait:

- a title, then the project (name and code), the month, the company (the general contractor) and
  the teams (each with the company that employs it) the lines belong to;
- one table: a header row (序号, 姓名, 身份证号, 班组, 出勤天数, 实发金额, 签名 — the words come in
  `labels`, already in the reader's language) marked `w:tblHeader`, so Word repeats it at the top of
  every page; one row per line, never split across pages, with an empty signature cell tall enough
  to sign in; a back-pay line says which month it pays under the name; a totals row (number of
  lines, days, net amount);
- the footer "page X of Y" from the PAGE and NUMPAGES fields (`labels.page` holds `{page}` and
  `{pages}` where the fields go).

ID numbers arrive masked (`SheetLine.masked_id`): the full number is never handed to the builder.
Money arrives in integer fen and is printed in yuan with two decimals.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_ROW_HEIGHT_RULE, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt

from .money import format_yuan

FONT = "SimSun"  # 宋体: the East Asian font Word and WPS have on a Chinese desktop
SIGNATURE_ROW_HEIGHT = Cm(1.3)
COLUMN_WIDTHS = (Cm(1.3), Cm(2.3), Cm(4.6), Cm(2.2), Cm(1.5), Cm(2.9), Cm(3.2))  # 18 cm: A4 less the margins


@dataclass(frozen=True)
class SheetHeader:
    project_name: str
    project_code: str
    month: str  # YYYY-MM
    company: str  # the general contractor (总包企业)
    teams: tuple[str, ...] = ()  # "team (its company)", in the order they first appear


@dataclass(frozen=True)
class SheetLine:
    seq: int
    name: str
    masked_id: str
    team: str
    days: int
    net_fen: int
    back_pay_month: str | None = None


@dataclass(frozen=True)
class SheetLabels:
    """Every word the sheet prints, in the reader's language. `columns` are the seven column titles;
    `back_pay` holds `{month}`; `total` holds `{count}`; `page` holds `{page}` and `{pages}`."""

    title: str
    project: str
    month: str
    company: str
    teams: str
    columns: tuple[str, str, str, str, str, str, str]
    back_pay: str
    total: str
    page: str


def build_sign_sheet(header: SheetHeader, lines: list[SheetLine], labels: SheetLabels) -> bytes:
    document = Document()
    _page_setup(document)
    _fonts(document)
    _heading(document, header, labels)
    _line_table(document, lines, labels)
    _page_numbers(document.sections[0].footer.paragraphs[0], labels.page)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _heading(document, header: SheetHeader, labels: SheetLabels) -> None:
    """The title, then project, month, company and teams, one labelled line each."""
    title = document.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = title.add_run(labels.title)
    run.bold, run.font.size = True, Pt(16)
    for label, value in ((labels.project, f"{header.project_name}（{header.project_code}）"),
                         (labels.month, header.month), (labels.company, header.company),
                         (labels.teams, "、".join(header.teams))):
        line = document.add_paragraph()
        line.paragraph_format.space_after = Pt(2)
        line.add_run(f"{label}：").bold = True
        line.add_run(value)


def _line_table(document, lines: list[SheetLine], labels: SheetLabels) -> None:
    """The table: a heading row repeated on every page, a row per line to sign in, the totals."""
    table = document.add_table(rows=1, cols=len(labels.columns))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    head = table.rows[0]
    _repeat_as_header(head)
    for cell, text in zip(head.cells, labels.columns):
        cell.text = ""
        cell.paragraphs[0].add_run(text).bold = True
        cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    for item in lines:
        _line_row(table, item, labels)
    totals = table.add_row()
    _keep_together(totals)
    for column, width in zip(table.columns, COLUMN_WIDTHS):  # the grid: what LibreOffice lays out by
        column.width = width
    for row in table.rows:  # before the merge: each cell its grid column's width (what Word lays out by)
        for cell, width in zip(row.cells, COLUMN_WIDTHS):
            cell.width = width
    _totals(totals, lines, labels)


def _line_row(table, item: SheetLine, labels: SheetLabels) -> None:
    """One worker's row, tall enough to sign in, never split across pages."""
    row = table.add_row()
    row.height, row.height_rule = SIGNATURE_ROW_HEIGHT, WD_ROW_HEIGHT_RULE.AT_LEAST
    _keep_together(row)
    name = item.name if not item.back_pay_month else \
        f"{item.name}\n{labels.back_pay.format(month=item.back_pay_month)}"
    values = (str(item.seq), name, item.masked_id, item.team, str(item.days), format_yuan(item.net_fen), "")
    for index, (cell, text) in enumerate(zip(row.cells, values)):
        cell.text = text
        if index in (0, 4, 5):
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT if index == 5 else WD_ALIGN_PARAGRAPH.CENTER


def _totals(totals, lines: list[SheetLine], labels: SheetLabels) -> None:
    """The totals row: the label over the first four columns merged, the days and the net sum."""
    label = totals.cells[0].merge(totals.cells[3])
    for cell, text, align in ((label, labels.total.format(count=len(lines)), WD_ALIGN_PARAGRAPH.CENTER),
                              (totals.cells[4], str(sum(x.days for x in lines)), WD_ALIGN_PARAGRAPH.CENTER),
                              (totals.cells[5], format_yuan(sum(x.net_fen for x in lines)), WD_ALIGN_PARAGRAPH.RIGHT)):
        paragraph = cell.paragraphs[0]
        for extra in cell.paragraphs[1:]:  # the merged cells' empty paragraphs
            extra._p.getparent().remove(extra._p)
        paragraph.add_run(text).bold = True
        paragraph.alignment = align


def _page_setup(document) -> None:
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin = section.right_margin = Mm(15)
    section.top_margin = section.bottom_margin = Mm(18)


def _fonts(document) -> None:
    style = document.styles["Normal"]
    style.font.name, style.font.size = FONT, Pt(10.5)
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)


def _repeat_as_header(row) -> None:
    """Word repeats a row marked `w:tblHeader` at the top of each page the table runs onto."""
    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(flag)


def _keep_together(row) -> None:
    flag = OxmlElement("w:cantSplit")
    flag.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(flag)


_PLACEHOLDER = re.compile(r"\{(page|pages)\}")
_FIELDS = {"page": "PAGE", "pages": "NUMPAGES"}


def _page_numbers(paragraph, pattern: str) -> None:
    """`pattern` ("第 {page} 页 共 {pages} 页") as text runs with a PAGE / NUMPAGES field for each placeholder."""
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    position = 0
    for match in _PLACEHOLDER.finditer(pattern):
        if match.start() > position:
            paragraph.add_run(pattern[position:match.start()])
        _field(paragraph, _FIELDS[match.group(1)])
        position = match.end()
    if position < len(pattern):
        paragraph.add_run(pattern[position:])


def _field(paragraph, instruction: str) -> None:
    """A complex field (begin, instruction, separate, shown value, end), as Word writes one."""
    def char(kind: str):
        element = OxmlElement("w:fldChar")
        element.set(qn("w:fldCharType"), kind)
        return element

    paragraph.add_run()._r.append(char("begin"))
    code = OxmlElement("w:instrText")
    code.set(qn("xml:space"), "preserve")
    code.text = f" {instruction} "
    paragraph.add_run()._r.append(code)
    paragraph.add_run()._r.append(char("separate"))
    paragraph.add_run("1")
    paragraph.add_run()._r.append(char("end"))
