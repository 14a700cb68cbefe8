"""The printable sign sheet (domain.sign_sheet), read back with python-docx and as its XML."""
from __future__ import annotations

import io
import random
import zipfile

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.oxml.ns import qn
from docx.shared import Mm

from domain.rules import mask_id_number
from domain.money import format_yuan as yuan_text
from domain.sign_sheet import SheetHeader, SheetLabels, SheetLine, build_sign_sheet
from shiming.seed_workforce import generate_id_number

LABELS = SheetLabels(
    title="农民工工资发放签字表", project="项目", month="月份", company="施工总承包单位", teams="班组（所属企业）",
    columns=("序号", "姓名", "身份证号", "班组", "出勤天数", "实发（元）", "签名"),
    back_pay="补发{month}", total="合计：{count} 行", page="第 {page} 页 共 {pages} 页")
HEADER = SheetHeader(project_name="南宁示范安置房项目", project_code="P450103001", month="2026-10",
                     company="广西示范建工集团有限公司", teams=("钢筋班（示范劳务有限公司）", "木工班（示范劳务有限公司）"))


def _lines(count: int) -> tuple[list[SheetLine], list[str]]:
    rng = random.Random(8)
    ids = [generate_id_number(rng, "450103") for _ in range(count)]
    lines = [SheetLine(seq=n + 1, name=f"工人{n + 1}", masked_id=mask_id_number(ids[n]),
                       team="钢筋班" if n % 2 else "木工班", days=20 + n % 3, net_fen=480_050 + n,
                       back_pay_month="2026-09" if n == 2 else None) for n in range(count)]
    return lines, ids


def _sheet(count: int = 45):
    lines, ids = _lines(count)
    data = build_sign_sheet(HEADER, lines, LABELS)
    return data, Document(io.BytesIO(data)), lines, ids


def _xml(data: bytes, part: str) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.read(part).decode("utf-8")


def test_one_row_per_line_with_the_masked_id_days_and_net_amount():
    data, document, lines, _ids = _sheet()
    table = document.tables[0]
    assert [c.text for c in table.rows[0].cells] == list(LABELS.columns)
    body = table.rows[1:-1]
    assert len(body) == len(lines) == 45
    for row, line in zip(body, lines):
        cells = [c.text for c in row.cells]
        assert cells[0] == str(line.seq) and cells[1].split("\n")[0] == line.name
        assert cells[2] == line.masked_id and "*" in cells[2]
        assert cells[3:6] == [line.team, str(line.days), yuan_text(line.net_fen)]
        assert cells[6] == ""  # the worker signs here
        assert row.height >= Mm(10)  # tall enough to sign in
    assert body[0].cells[5].text == "4,800.50"
    assert body[2].cells[1].text == "工人3\n补发2026-09"  # a back-pay line says the month it pays


def test_no_full_id_number_anywhere_in_the_document():
    data, _document, _lines_, ids = _sheet()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        everything = b"".join(zf.read(name) for name in zf.namelist())
    for id_number in ids:
        assert id_number.encode() not in everything
        assert id_number[6:14].encode() not in everything  # not even the birth date


def test_the_totals_row_counts_lines_days_and_the_net_amount():
    _data, document, lines, _ids = _sheet()
    totals = [c.text for c in document.tables[0].rows[-1].cells]
    assert totals[0] == "合计：45 行"
    assert totals[4] == str(sum(x.days for x in lines))
    assert totals[5] == yuan_text(sum(x.net_fen for x in lines)) == "216,032.40"


def test_the_header_row_repeats_on_every_page_and_rows_do_not_split():
    data, document, _lines_, _ids = _sheet()
    rows = document.tables[0].rows
    head = rows[0]._tr.trPr
    assert head is not None and head.find(qn("w:tblHeader")) is not None
    assert all(row._tr.trPr is None or row._tr.trPr.find(qn("w:tblHeader")) is None for row in rows[1:])
    assert all(row._tr.trPr.find(qn("w:cantSplit")) is not None for row in rows[1:])
    assert _xml(data, "word/document.xml").count("<w:tblHeader") == 1


def test_the_footer_numbers_the_pages_with_page_and_numpages_fields():
    data, document, _lines_, _ids = _sheet()
    footer = document.sections[0].footer
    instructions = [el.text.strip() for el in footer._element.iter(qn("w:instrText"))]
    assert instructions == ["PAGE", "NUMPAGES"]
    kinds = [el.get(qn("w:fldCharType")) for el in footer._element.iter(qn("w:fldChar"))]
    assert kinds == ["begin", "separate", "end"] * 2
    text = "".join(t.text for t in footer._element.iter(qn("w:t")))
    assert text == "第 1 页 共 1 页"  # the fields' shown values until Word updates them


def test_title_project_month_company_and_teams_on_an_a4_portrait_page():
    _data, document, _lines_, _ids = _sheet(3)
    section = document.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    assert section.orientation == WD_ORIENT.PORTRAIT
    text = [p.text for p in document.paragraphs]
    assert text[0] == "农民工工资发放签字表"
    assert "项目：南宁示范安置房项目（P450103001）" in text and "月份：2026-10" in text
    assert "施工总承包单位：广西示范建工集团有限公司" in text
    assert "班组（所属企业）：钢筋班（示范劳务有限公司）、木工班（示范劳务有限公司）" in text


def test_yuan_from_integer_fen():
    assert [yuan_text(f) for f in (0, 5, 100, 123456, 123456789, -150)] == [
        "0.00", "0.05", "1.00", "1,234.56", "1,234,567.89", "-1.50"]


def test_the_table_grid_carries_the_column_widths_that_fit_the_page():
    """LibreOffice lays a table out by its grid (w:gridCol), Word by the cells: both must say the
    widths, or the masked ID number wraps inside a narrow column (seen in a LibreOffice render)."""
    from domain.sign_sheet import COLUMN_WIDTHS

    document = Document(io.BytesIO(_sheet()[0]))
    grid = [int(col.get(qn("w:w"))) for col in document.tables[0]._tbl.tblGrid.findall(qn("w:gridCol"))]
    assert grid == [width.twips for width in COLUMN_WIDTHS]
    assert sum(COLUMN_WIDTHS) <= Mm(210 - 30)
