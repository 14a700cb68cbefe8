"""The monthly attendance report (ATT-5): .xlsx (XlsxWriter) and .docx (python-docx) of one
`attendance_stats.Statistics`.

Pure — no database, no clock, no Flask: the words come in `ReportLabels`, already in the reader's
language. Both documents hold the same figures: per worker (team, company, days, hours, punches,
approved corrections and the days counted only through one, apart), per team, per company, the
project's total, and each day's on-duty rate (attended / admitted).
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import xlsxwriter
from docx import Document
from docx.shared import Pt

from .attendance_stats import DayRate, Figures, Statistics

FONT = "SimSun"


@dataclass(frozen=True)
class ReportLabels:
    title: str
    workers: str  # sheet / section names
    teams: str
    companies: str
    rates: str
    name: str  # columns
    team: str
    company: str
    attended_workers: str
    days: str
    hours: str
    punches: str
    corrections: str
    corrected_days: str
    day: str
    attended: str
    admitted: str
    rate: str
    total: str


def _figure_header(labels: ReportLabels, with_groups: bool) -> list[str]:
    head = [labels.name] + ([labels.team, labels.company] if with_groups else [labels.attended_workers])
    return head + [labels.days, labels.hours, labels.punches, labels.corrections, labels.corrected_days]


def _figure_row(f: Figures, with_groups: bool) -> list:
    head = [f.name] + ([f.team, f.company] if with_groups else [f.workers])
    return head + [f.days, f.hours_x10 / 10, f.punches, f.corrections, f.corrected_days]


def rate_text(rate: DayRate) -> str:
    per_mille = rate.per_mille
    return "-" if per_mille is None else f"{per_mille / 10:.1f}%"


def _tables(stats: Statistics, labels: ReportLabels) -> list[tuple[str, list[str], list[list]]]:
    """(title, header, rows) of each table, the same in both documents."""
    total = _figure_row(stats.total, False)
    total[0] = labels.total
    return [
        (labels.workers, _figure_header(labels, True), [_figure_row(f, True) for f in stats.workers]),
        (labels.teams, _figure_header(labels, False), [_figure_row(f, False) for f in stats.teams]),
        (labels.companies, _figure_header(labels, False), [_figure_row(f, False) for f in stats.companies] + [total]),
        (labels.rates, [labels.day, labels.attended, labels.admitted, labels.rate],
         [[r.day.isoformat(), r.attended, r.admitted, rate_text(r)] for r in stats.rates]),
    ]


def report_xlsx(stats: Statistics, labels: ReportLabels) -> bytes:
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"strings_to_numbers": False, "strings_to_formulas": False,
                                   "strings_to_urls": False, "in_memory": True})
    bold = wb.add_format({"bold": True})
    for title, header, rows in _tables(stats, labels):
        ws = wb.add_worksheet(title[:31])
        ws.write_string(0, 0, f"{labels.title} {stats.project_name} {stats.period}", bold)
        for column, text in enumerate(header):
            ws.write_string(2, column, text, bold)
        for number, row in enumerate(rows, start=3):
            for column, value in enumerate(row):
                if isinstance(value, (int, float)):
                    ws.write_number(number, column, value)
                else:
                    ws.write_string(number, column, str(value))
    wb.close()
    return out.getvalue()


def report_docx(stats: Statistics, labels: ReportLabels) -> bytes:
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name, style.font.size = FONT, Pt(9)
    doc.add_heading(f"{labels.title} {stats.project_name} {stats.period}", level=1)
    for title, header, rows in _tables(stats, labels):
        doc.add_heading(title, level=2)
        table = doc.add_table(rows=1, cols=len(header))
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, header):
            cell.text = text
        for row in rows:
            cells = table.add_row().cells
            for cell, value in zip(cells, row):
                cell.text = f"{value:.1f}" if isinstance(value, float) else str(value)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
