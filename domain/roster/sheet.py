"""The roster file: its columns and limits, the template and error report to download, and reading
its rows (the whole file refused at once: row 0) without trusting the workbook."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Mapping, Optional, Sequence

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font

from ..rules import TRADE_CODES
from ..uploads import is_size_refusal, xlsx_refusal

# (identifier, column title in the file) in file order; the titles are the file format.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "姓名"),
    ("id_number", "身份证号"),
    ("phone", "手机号"),
    ("team", "班组"),
    ("trade", "工种"),
    ("daily_rate", "日工资(元)"),
    ("bank_name", "开户银行"),
    ("card_number", "银行卡号"),
    ("entry_date", "进场日期"),
)
TITLES = dict(COLUMNS)
INDEX = {key: i for i, (key, _t) in enumerate(COLUMNS)}
_ORDER = {key: i + 1 for i, (key, _t) in enumerate(COLUMNS)}
MAX_ROWS = 20_000
MAX_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 100 * 1024 * 1024  # a zip bomb stops here; 20,000 rows unpack to about 20 MB
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Chinese text of each error code (the report is for site staff); `error_report_xlsx` takes others.
MESSAGES: dict[str, str] = {
    "not_xlsx": "文件不是有效的 Excel (.xlsx) 工作簿",
    "file_too_large": "文件超过 5 MB",
    "too_many_rows": "数据超过 20000 行",
    "bad_headers": "表头与模板不一致，请下载模板填写",
    "no_rows": "没有数据行",
    "required": "不能为空",
    "too_long": "过长",
    "format": "格式不正确",
    "region": "前两位不是有效的省级行政区划代码",
    "birth_date": "中的出生日期无效，或年龄不在16至100周岁之间",
    "check_digit": "校验位错误",
    "duplicate": "在文件中重复",
    "name_mismatch": "与系统中该身份证号登记的姓名不一致",
    "unknown_team": "在本项目中不存在，请先建立班组",
    "unknown_trade": "不是有效的工种代码",
    "not_a_number": "不是数字",
    "too_many_decimals": "最多保留两位小数",
    "must_be_positive": "必须大于0",
    "too_large": "超出上限",
    "in_use": "已是其他工人的工资卡",
}
REPORT_HEADERS = ("行号", "列", "错误说明", "错误代码", "值（已脱敏）")


@dataclass(frozen=True)
class RowError:
    row: int  # Excel row number; 0 = the file as a whole
    column: str  # identifier from COLUMNS, "" for the file
    code: str
    value_masked: str


def column_order(column: str) -> int:
    """Where the column is in the file (0 for the file as a whole), to sort errors by."""
    return _ORDER.get(column, 0)


# ---- template and report ---------------------------------------------------------------------


def roster_template_xlsx() -> bytes:
    """An empty roster: the header row, text-formatted identifier columns, and the trade codes."""
    wb = Workbook()
    ws = wb.active
    ws.title = "花名册"
    ws.append([title for _, title in COLUMNS])
    widths = {"name": 12, "id_number": 22, "phone": 15, "team": 14, "trade": 8, "daily_rate": 12,
              "bank_name": 18, "card_number": 24, "entry_date": 12}
    formats = {"id_number": "@", "phone": "@", "trade": "@", "card_number": "@", "daily_rate": "0.00",
               "entry_date": "yyyy-mm-dd"}
    for index, (key, _title) in enumerate(COLUMNS, start=1):
        ws.cell(row=1, column=index).font = Font(bold=True)
        letter = ws.cell(row=1, column=index).column_letter
        ws.column_dimensions[letter].width = widths[key]
        if key in formats:  # Excel would turn an 18-digit ID number into 1.10105E+17
            ws.column_dimensions[letter].number_format = formats[key]
    ws.freeze_panes = "A2"
    trades = wb.create_sheet("工种代码")
    trades.append(["代码", "工种"])
    for code, name in TRADE_CODES.items():
        trades.append([code, name])
    return _save(wb)


def error_report_xlsx(errors: Sequence[RowError], messages: Optional[Mapping[str, str]] = None) -> bytes:
    """The errors as a workbook to download: row, column, message, code and masked value."""
    messages = {**MESSAGES, **(messages or {})}
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("错误")
    ws.append(list(REPORT_HEADERS))
    for e in errors:
        title = TITLES.get(e.column, "")
        ws.append([e.row, title or "文件", f"{title}{messages.get(e.code, e.code)}", e.code, e.value_masked])
    return _save(wb)


def _save(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ---- reading ----------------------------------------------------------------------------------


def read_rows(data: bytes) -> tuple[list[tuple[int, tuple]], list[RowError]]:
    """(excel row number, cell values) of every non-blank data row, or the file-level error."""
    refused = xlsx_refusal(data, MAX_BYTES, max_unpacked=MAX_UNPACKED_BYTES)  # SEC-2: before openpyxl
    if refused:
        return [], [RowError(0, "", "file_too_large" if is_size_refusal(refused) else "not_xlsx", "")]
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # zipfile and openpyxl raise many types for a damaged or foreign file
        return [], [RowError(0, "", "not_xlsx", "")]
    try:
        ws = wb.worksheets[0]
        values = ws.iter_rows(max_col=len(COLUMNS), values_only=True)
        header = tuple(cell_text(v) for v in next(values, ()))
        if header + ("",) * (len(COLUMNS) - len(header)) != tuple(t for _, t in COLUMNS):
            return [], [RowError(0, "", "bad_headers", "")]  # the first row may be data: never echo it
        rows = []
        for number, cells in enumerate(values, start=2):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in cells):
                if number > 2 * MAX_ROWS:  # a sheet of styled blank rows
                    return [], [RowError(0, "", "too_many_rows", "")]
                continue
            if len(rows) == MAX_ROWS:
                return [], [RowError(0, "", "too_many_rows", "")]
            rows.append((number, tuple(cells) + (None,) * (len(COLUMNS) - len(cells))))
    except Exception:  # damaged XML inside a valid zip surfaces only while reading
        return [], [RowError(0, "", "not_xlsx", "")]
    finally:
        wb.close()
    if not rows:
        return [], [RowError(0, "", "no_rows", "")]
    return rows, []


def cell_text(value) -> str:
    """A cell as the text a person typed: Excel keeps whole numbers as floats, dates as datetimes."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def cell_date(value) -> Optional[date]:
    """A date cell, or a text cell holding YYYY-MM-DD; else None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE_RE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None
