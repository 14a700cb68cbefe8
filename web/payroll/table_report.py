"""The wage-table error report in the reader's words (PAY-4 step 1, issue 8 point 7).

The process stores the report of a refused table with the code of each problem
(`domain.wage_table.error_report_xlsx`); this module turns it, at download, into a workbook the
specialist reads: row number, column, what is wrong in the reader's language, the value found.
Codes never reach the reader; a code without its own message gets a general one.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from domain import wage_table as wt

MESSAGES = {
    # the whole file
    "too_large": _l("The file is too large (at most 10 MB)."),
    "not_xlsx": _l("The file is not an Excel workbook (.xlsx)."),
    "bad_header": _l("The header row is not the one of the template: download the prefilled table and fill it in."),
    "too_many_rows": _l("The table has more rows than a wage table may have (20,000)."),
    "empty": _l("The table has no wage line."),
    "future_month": _l("The month of this wage run has not begun yet: it cannot be paid."),
    # the totals row
    "missing_total": _l("The totals row (合计) is missing: add it below the last line."),
    "total_mismatch": _l("The total of the totals row does not equal the sum of the net amounts of the lines."),
    # a line
    "unknown_worker": _l("This worker number is not a worker of the project."),
    "name_mismatch": _l("The name is not the name of this worker number."),
    "duplicate_worker": _l("This worker appears twice in the table."),
    "not_on_project": _l("This worker has exited the project."),
    "bad_days": _l("The days worked must be a whole number from 0 to 31."),
    "bad_hours": _l("The hours must be a number from 0 to 744."),
    "required": _l("The amount is missing."),
    "not_a_number": _l("The amount is not a number."),
    "amount_too_large": _l("The amount is far too large to be a wage: check the cell."),
    "too_many_decimals": _l("The amount has more than two decimal places."),
    "negative": _l("The amount is negative."),
    "over_cap": _l("The amount is above 500,000 yuan: most likely a typing error."),
    "zero_net": _l("The net amount is zero: leave the worker out of the table instead."),
    "net_above_gross": _l("The net amount is larger than the gross amount."),
    # the month a line pays (back pay, 补发)
    "no_attendance": _l("This worker has no attendance in the month of the run. If the row pays an earlier "
                        "month, enter that month in the column 补发月份 (YYYY-MM); otherwise leave the row out."),
    "bad_back_pay_month": _l("The back-pay month (补发月份) must be a month written YYYY-MM."),
    "back_pay_not_earlier": _l("The back-pay month must be earlier than the month of the wage run."),
    "no_attendance_in_back_pay_month": _l("This worker has no attendance in the back-pay month."),
}
OTHER = _l("This value is not accepted.")

COLUMNS = {
    "file": _l("Whole file"),
    "header": _l("Header row"),
}

HEADER = (_l("Row"), _l("Column"), _l("What is wrong"), _l("Value found"))


def describe(error: wt.TableRowError) -> str:
    return str(MESSAGES.get(error.code, OTHER))


def column_name(column: str) -> str:
    """A column as the reader knows it: the template's own heading, or what a pseudo-column means."""
    label = COLUMNS.get(column)
    return str(label) if label is not None else column


SHOWN_ON_PAGE = 20  # the run page lists the first problems; the report has them all


def problems_of(stored: bytes, limit: int = SHOWN_ON_PAGE) -> list[dict]:
    """The first problems of a stored report, for the run page; none when it cannot be read."""
    try:
        errors = wt.read_error_report(stored)
    except ValueError:
        return []
    return [{"row": e.row or "", "column": column_name(e.column), "what": describe(e), "value": e.value}
            for e in errors[:limit]]


def readable_report(stored: bytes) -> bytes:
    """The stored report, for the reader; ValueError when `stored` is not such a report."""
    errors = wt.read_error_report(stored)
    return wt.readable_report_xlsx(errors, [str(h) for h in HEADER], describe, column_name)
