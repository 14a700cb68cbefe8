"""The attendance pages: a month's and a day's statistics with corrections apart, the report downloads,
the photo gallery and a photo, the flags and their counts per project; the scope (another project, a
company's other workers) is a 404 or absent; the wage run page shows days and hours per worker."""
from __future__ import annotations

import hashlib
import io

from docx import Document
from openpyxl import load_workbook
from sqlalchemy import select

from domain import registration as reg
from domain.models import RegistrationApplication
from tests.helpers.attendance_site import MONTH, add_punch, build_site
from tests.helpers.factories import create_application
from tests.helpers.web_app import enter_session

PHOTO = b"\xff\xd8\xff\xe0 watermarked: 2026-10-09 07:30 project device worker \xff\xd9"


def _site_with_photo(services):
    site = build_site(services)
    with services.Session.begin() as db:
        stored = services.blobs.store(db, PHOTO, "image/jpeg", "punch.jpg")
        punch = add_punch(db, site.project_id, site.workers["丙"], "2026-10-21", "07:45", photo_file_id=stored.id,
                          photo_sha256=hashlib.sha256(PHOTO).hexdigest(), match_score=640)
    return site, punch.id


def test_month_page_shows_figures_with_corrections_apart_and_the_rates(client, services):
    site = build_site(services)
    enter_session(client, services, "project")
    page = client.get(f"/attendance/project/{site.project_id}/statistics?month={MONTH}").get_data(as_text=True)
    assert 'id="month-workers"' in page and "乙" in page
    row = page[page.index('data-name="乙"'):]
    row = row[:row.index("</tr>")]
    assert '<td class="days">2</td>' in row and '<td class="hours">12.0</td>' in row
    assert '<td class="corrections">2</td>' in row and '<td class="corrected-days">1</td>' in row
    rate = page[page.index('data-day="2026-10-13"'):]
    assert '<td class="rate">33.3%</td>' in rate[:rate.index("</tr>")]


def test_day_page_and_reports(client, services):
    site = build_site(services)
    enter_session(client, services, "project")
    day = client.get(f"/attendance/project/{site.project_id}/statistics/2026-10-12").get_data(as_text=True)
    assert 'data-attended="1" data-admitted="3"' in day and "17:00" in day
    xlsx = client.get(f"/attendance/project/{site.project_id}/statistics/report.xlsx?month={MONTH}")
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(xlsx.data))
    assert len(book.sheetnames) == 4
    docx = client.get(f"/attendance/project/{site.project_id}/statistics/report.docx?month={MONTH}")
    assert len(Document(io.BytesIO(docx.data)).tables) == 4
    assert client.get(f"/attendance/project/{site.project_id}/statistics?month=2026-13").status_code == 404


def test_gallery_shows_the_day_photos_and_serves_them_in_scope(client, services):
    site, punch_id = _site_with_photo(services)
    enter_session(client, services, "project")
    page = client.get(f"/attendance/project/{site.project_id}/photos/2026-10-21").get_data(as_text=True)
    assert f'data-punch-id="{punch_id}"' in page and "丙" in page
    photo = client.get(f"/attendance/photo/{punch_id}")
    assert photo.status_code == 200 and photo.data == PHOTO and photo.mimetype == "image/jpeg"
    empty = client.get(f"/attendance/project/{site.project_id}/photos/2026-10-22").get_data(as_text=True)
    assert 'id="gallery-empty"' in empty
    enter_session(client, services, "labour")  # the labour company: 丙 is the contractor's worker
    assert client.get(f"/attendance/photo/{punch_id}").status_code == 404
    assert f'data-punch-id="{punch_id}"' not in client.get(
        f"/attendance/project/{site.project_id}/photos/2026-10-21").get_data(as_text=True)


def test_another_project_is_not_found(client, services):
    site = build_site(services)
    app_id, _n, _w = create_application(services)
    with services.Session.begin() as db:
        other = reg.approve(db, services.cipher, db.get(RegistrationApplication, app_id))[0].id
    enter_session(client, services, "project")
    for path in (f"/attendance/project/{other}/statistics", f"/attendance/project/{other}/flags",
                 f"/attendance/project/{other}/corrections", f"/attendance/project/{other}/statistics/report.xlsx"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/attendance/project/{site.project_id}/statistics").status_code == 200


def test_flags_page_lists_and_counts_each_kind(client, services):
    site, punch_id = _site_with_photo(services)
    enter_session(client, services, "project")
    page = client.get(f"/attendance/project/{site.project_id}/flags?month={MONTH}").get_data(as_text=True)
    counts = page[page.index('id="flag-counts"'):page.index("</table>", page.index('id="flag-counts"'))]
    assert '<tr data-kind="low_match">' in counts and 'data-kind="correction_ratio"' in counts
    assert f'data-kind="low_match" data-punch-id="{punch_id}"' in page
    summary = client.get(f"/attendance/flags?month={MONTH}").get_data(as_text=True)
    row = summary[summary.index(f'data-project-id="{site.project_id}"'):]
    assert '<td data-kind="low_match">1</td>' in row[:row.index("</tr>")]
    assert '<td data-kind="correction_ratio">1</td>' in row[:row.index("</tr>")]


def test_wage_run_page_shows_days_and_hours_per_worker(client, services):
    from tests.helpers.wage_scenario import create_payroll_specialist
    from domain.models import Account, WageAccount
    from domain.wage_run import open_run
    site = build_site(services)
    create_payroll_specialist(services, project_id=site.project_id)
    with services.Session.begin() as db:
        db.add(WageAccount(project_id=site.project_id, bank_code="REFBANK", account_number_enc="x",
                           account_number_hash="x", account_last4="0000", account_name="工资专户", status="bound"))
        db.flush()
        run = open_run(db, site.project_id, MONTH, db.scalar(select(Account).where(Account.username == "payroll")))
        run_id = run.id
    enter_session(client, services, "payroll")
    page = client.get(f"/payroll/run/{run_id}").get_data(as_text=True)
    table = page[page.index('id="run-attendance"'):]
    row = table[table.index('data-name="乙"'):]
    row = row[:row.index("</tr>")]
    assert '<td class="days">2</td>' in row and '<td class="hours">12.0</td>' in row
    assert '<td class="corrections">2</td>' in row


def test_project_list_links_each_project_attendance_pages(client, services):
    site = build_site(services)
    enter_session(client, services, "project")
    page = client.get("/project/").get_data(as_text=True)
    for path in ("statistics", "corrections", "flags"):
        assert f'href="/attendance/project/{site.project_id}/{path}"' in page
