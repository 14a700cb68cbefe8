"""Attendance statistics on a known site (tests/helpers/attendance_site.py): days, hours, corrections apart,
the on-duty rate, per worker, team and company; the reports hold the same figures; the wage table's
prefill reads exactly these days and hours."""
from __future__ import annotations

import io
from datetime import date

from docx import Document
from openpyxl import load_workbook

from domain import attendance_stats as stats
from domain.attendance import monthly_summary
from domain.models import Project, ProjectWorker
from domain.attendance_report import ReportLabels, report_docx, report_xlsx
from domain.wage_table import prefill_xlsx
from tests.helpers.attendance_site import MONTH, add_punch, build_site

LABELS = ReportLabels(**{name: name.upper() for name in ReportLabels.__dataclass_fields__})


def _by_name(rows):
    return {r.name: r for r in rows}


def test_month_figures_count_corrections_apart_per_worker_team_and_company(any_db_services):
    services = any_db_services  # SQLite, and MariaDB when SHIMING_TEST_MYSQL_URL is set
    site = build_site(services)
    with services.Session() as db:
        month = stats.monthly(db, site.project_id, MONTH)
    workers = _by_name(month.workers)
    assert {n: (w.days, w.hours_x10, w.punches, w.corrections, w.corrected_days) for n, w in workers.items()} == {
        "甲": (2, 190, 3, 1, 0), "乙": (2, 120, 2, 2, 1), "丙": (1, 90, 2, 0, 0)}
    with services.Session() as db:
        contractor = db.get(Project, site.project_id).contractor_name
    assert (workers["甲"].team, workers["丙"].company) == ("钢筋班组", contractor)
    teams = _by_name(month.teams)
    assert (teams["钢筋班组"].workers, teams["钢筋班组"].days, teams["钢筋班组"].hours_x10,
            teams["钢筋班组"].corrections) == (2, 4, 310, 3)
    assert (teams["木工班组"].days, teams["木工班组"].hours_x10, teams["木工班组"].corrections) == (1, 90, 0)
    companies = _by_name(month.companies)
    assert companies["广西测试劳务有限公司"].hours_x10 == 310 and len(companies) == 2
    assert (month.total.workers, month.total.days, month.total.hours_x10, month.total.corrections,
            month.total.corrected_days) == (3, 5, 400, 3, 1)


def test_on_duty_rate_is_attended_over_admitted_workers_of_each_day(services):
    site = build_site(services)
    with services.Session() as db:
        rates = {r.day: r for r in stats.monthly(db, site.project_id, MONTH).rates}
    assert len(rates) == 31
    assert (rates[date(2026, 10, 9)].attended, rates[date(2026, 10, 9)].admitted) == (3, 3)
    assert rates[date(2026, 10, 9)].per_mille == 1000
    assert (rates[date(2026, 10, 13)].attended, rates[date(2026, 10, 13)].per_mille) == (1, 333)  # by correction
    assert (rates[date(2026, 10, 14)].attended, rates[date(2026, 10, 15)].attended) == (0, 0)  # pending, refused
    assert rates[date(2026, 10, 1)].per_mille == 0


def test_on_duty_rate_leaves_out_who_is_not_admitted_that_day(services):
    site = build_site(services)
    with services.Session.begin() as db:
        pw = db.query(ProjectWorker).filter_by(project_id=site.project_id, worker_id=site.workers["丙"]).one()
        pw.exit_date = date(2026, 10, 5)
    with services.Session() as db:
        rates = {r.day: r for r in stats.monthly(db, site.project_id, MONTH).rates}
    assert (rates[date(2026, 10, 5)].admitted, rates[date(2026, 10, 6)].admitted) == (3, 2)
    assert (rates[date(2026, 10, 9)].attended, rates[date(2026, 10, 9)].admitted) == (2, 2)  # 丙 punched after exit


def test_day_figures_show_first_last_hours_and_corrections_apart(services):
    site = build_site(services)
    with services.Session() as db:
        day = stats.daily(db, site.project_id, date(2026, 10, 12))
        day13 = stats.daily(db, site.project_id, date(2026, 10, 13))
    (a,) = day.workers
    assert (a.name, a.first_at.strftime("%H:%M"), a.last_at.strftime("%H:%M"), a.hours_x10, a.punches,
            a.corrections, a.corrected_days) == ("甲", "08:00", "17:00", 90, 1, 1, 0)
    assert (day.rates[0].attended, day.rates[0].admitted) == (1, 3)
    (b,) = day13.workers
    assert (b.name, b.hours_x10, b.punches, b.corrections, b.corrected_days) == ("乙", 40, 0, 2, 1)


def test_prefill_uses_exactly_the_statistics_days_and_hours(any_db_services):
    services = any_db_services
    site = build_site(services)
    with services.Session() as db:
        month = _by_name(stats.monthly(db, site.project_id, MONTH).workers)
        summary = {r.name: r for r in monthly_summary(db, site.project_id, MONTH)}
        sheet = load_workbook(io.BytesIO(prefill_xlsx(db, services.cipher, site.project_id, MONTH))).active
    rows = {r[2]: (r[4], r[5]) for r in sheet.iter_rows(min_row=2, values_only=True) if isinstance(r[0], int)}
    assert rows == {name: (w.days, w.hours_x10 / 10) for name, w in month.items()}
    assert {n: (r.days, r.hours_x10, r.corrections) for n, r in summary.items()} == {
        n: (w.days, w.hours_x10, w.corrections) for n, w in month.items()}


def test_month_without_corrections_is_unchanged_by_them(services):
    site = build_site(services, punches=False)
    with services.Session.begin() as db:
        add_punch(db, site.project_id, site.workers["甲"], "2026-10-09", "07:00")
        add_punch(db, site.project_id, site.workers["甲"], "2026-10-09", "15:30", "out")
    with services.Session() as db:
        (row,) = monthly_summary(db, site.project_id, MONTH)
    assert (row.days, row.hours_x10, row.corrections, row.corrected_days) == (1, 85, 0, 0)


def test_xlsx_and_docx_reports_open_and_hold_the_figures(services):
    site = build_site(services)
    with services.Session() as db:
        month = stats.monthly(db, site.project_id, MONTH)
    book = load_workbook(io.BytesIO(report_xlsx(month, LABELS)))
    assert book.sheetnames == ["WORKERS", "TEAMS", "COMPANIES", "RATES"]
    workers = {r[0]: r[1:] for r in book["WORKERS"].iter_rows(min_row=4, values_only=True)}
    assert workers["乙"][2:] == (2, 12.0, 2, 2, 1)  # days, hours, punches, corrections, by correction only
    companies = [r for r in book["COMPANIES"].iter_rows(min_row=4, values_only=True)]
    assert companies[-1] == ("TOTAL", 3, 5, 40.0, 7, 3, 1)
    rates = {r[0]: r[1:] for r in book["RATES"].iter_rows(min_row=4, values_only=True)}
    assert rates["2026-10-09"] == (3, 3, "100.0%") and rates["2026-10-13"] == (1, 3, "33.3%")

    doc = Document(io.BytesIO(report_docx(month, LABELS)))
    assert len(doc.tables) == 4
    cells = [[c.text for c in row.cells] for row in doc.tables[0].rows]
    assert cells[0][-2:] == ["CORRECTIONS", "CORRECTED_DAYS"]
    assert ["乙", "钢筋班组", "广西测试劳务有限公司", "2", "12.0", "2", "2", "1"] in cells
    assert [c.text for c in doc.tables[2].rows[-1].cells] == ["TOTAL", "3", "5", "40.0", "7", "3", "1"]
