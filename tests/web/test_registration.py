"""The public registration application (REG-1): form, scan upload, docx, status, correction."""
from __future__ import annotations

import io
import re

import pytest
from docx import Document
from sqlalchemy import func, select

from domain.models import (
    RegistrationApplication,
    RegistrationCorrection,
    RegistrationStatus,
    StoredFile,
)
from tests.helpers.web_app import create_registration, registration_form, tiny_pdf, tiny_png, upload
from domain.processes.registration import RegistrationInput, ResubmitInput
from workflows.registration import ProjectRegistrationWorkflow

PHONE = "13912345678"
MASKED = "139****5678"


def _count(services, model) -> int:
    with services.Session() as db:
        return db.scalar(select(func.count()).select_from(model))


def _application(services, number: str | None = None) -> RegistrationApplication:
    with services.Session() as db:
        q = select(RegistrationApplication).order_by(RegistrationApplication.id.desc())
        if number:
            q = q.where(RegistrationApplication.number == number)
        return db.scalars(q).first()


def _register(client) -> str:
    """Submit a good form; returns the applicant's page URL."""
    response = client.post("/register/", data=registration_form())
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def test_a_good_form_saves_the_application_with_the_phone_encrypted(client, services):
    before = _count(services, RegistrationApplication)
    location = _register(client)
    assert re.fullmatch(r"/register/[A-Za-z0-9_-]{20,}/", location)
    assert _count(services, RegistrationApplication) == before + 1
    app = _application(services)
    assert app.status == RegistrationStatus.DRAFT and app.contract_value_fen == 123456789
    assert PHONE not in app.contact_phone_enc and app.contact_phone_enc.startswith("v1:")
    with services.engine.connect() as conn:
        dump = "\n".join(conn.connection.dbapi_connection.iterdump())
    assert PHONE not in dump
    page = client.get(location).get_data(as_text=True)
    assert app.number in page and 'id="application-number"' in page
    assert MASKED in page and PHONE not in page


@pytest.mark.parametrize("field, value, message", [
    ("builder_credit_code", "91450100MA5K9XYW1X", "统一社会信用代码"),
    ("contact_phone", "1234567", "手机号"),
    ("planned_end", "2026-11-30", "早于"),
    ("contract_value", "1000.123", "两位小数"),
    ("contract_value", "-5", "大于零"),
    ("name", "", "必填"),
])
def test_a_bad_field_is_shown_and_nothing_is_saved(client, services, field, value, message):
    before = _count(services, RegistrationApplication)
    response = client.post("/register/", data=registration_form(**{field: value}))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    block = re.search(rf'<div class="field has-error" data-field="{field}">(.*?)</div>\s*</div>', page, re.S)
    assert block, f"no error shown on {field}"
    assert message in block.group(1)
    assert _count(services, RegistrationApplication) == before


def test_the_district_must_exist(client, services):
    response = client.post("/register/", data=registration_form(district_id="999"))
    assert response.status_code == 200 and _count(services, RegistrationApplication) == 1  # the seeded one


@pytest.mark.parametrize("data, name", [(tiny_pdf(), "scan.pdf"), (tiny_png(), "stamp.png")])
def test_a_real_scan_is_accepted_and_the_review_process_starts(client, services, bridge, data, name):
    page_url = _register(client)
    response = client.post(page_url + "upload", data={"scan": upload(data, name)},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    app = _application(services)
    assert app.scan_file_id is not None
    with services.Session() as db:
        stored = db.get(StoredFile, app.scan_file_id)
    assert stored.content_type == ("application/pdf" if name.endswith(".pdf") else "image/png")
    assert stored.display_name.startswith(app.number)
    [call] = bridge.client.started
    assert call["workflow"] == ProjectRegistrationWorkflow.run
    assert call["arg"] == RegistrationInput(app.id, app.number)
    assert call["id"] == app.workflow_id == f"registration-{app.number}"
    assert call["task_queue"] == bridge.task_queue
    page = client.get(page_url).get_data(as_text=True)
    assert app.number in page and "已提交审核" in page


def test_submitting_twice_is_harmless(client, services, bridge):
    page_url = _register(client)
    client.post(page_url + "upload", data={"scan": upload(tiny_pdf(), "a.pdf")}, content_type="multipart/form-data")
    response = client.post(page_url + "submit")
    assert response.status_code == 302
    assert len(bridge.client.started) == 2  # the second start met WorkflowAlreadyStartedError
    assert "已提交审核" in client.get(page_url).get_data(as_text=True)


def test_a_text_file_named_pdf_is_refused_by_its_content(client, services, bridge):
    page_url = _register(client)
    files_before = _count(services, StoredFile)
    response = client.post(page_url + "upload", data={"scan": upload(b"just some text, honest\n" * 20, "scan.pdf")},
                           content_type="multipart/form-data", follow_redirects=True)
    assert "PDF、JPEG 或 PNG" in response.get_data(as_text=True)
    assert _count(services, StoredFile) == files_before
    assert _application(services).scan_file_id is None
    assert bridge.client.started == []


def test_an_empty_file_is_refused(client, services, bridge):
    page_url = _register(client)
    response = client.post(page_url + "upload", data={"scan": upload(b"", "scan.pdf")},
                           content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200
    assert _application(services).scan_file_id is None and bridge.client.started == []


def test_an_oversized_upload_is_refused(services, bridge):
    from web import create_app

    services.settings.upload_max_bytes = 2048
    app = create_app(services, bridge, {"TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    page_url = _register(client)
    big_pdf = tiny_pdf() + b"%" * 4096
    response = client.post(page_url + "upload", data={"scan": upload(big_pdf, "scan.pdf")},
                           content_type="multipart/form-data", follow_redirects=True)
    assert "文件太大" in response.get_data(as_text=True)
    huge = tiny_pdf() + b"%" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post(page_url + "upload", data={"scan": upload(huge, "scan.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 413 and 'data-error="413"' in response.get_data(as_text=True)
    assert _count(services, StoredFile) == 0 and bridge.client.started == []


def test_the_engine_being_down_is_reported_and_the_scan_kept_for_a_retry(client, services, bridge):
    page_url = _register(client)
    bridge.down = True
    page = client.post(page_url + "upload", data={"scan": upload(tiny_pdf(), "a.pdf")},
                       content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    assert 'class="flash flash-error"' in page and 'id="submit-application"' in page
    bridge.down = False
    client.post(page_url + "submit")
    assert len(bridge.client.started) == 1


def test_the_generated_application_is_a_docx(client, services):
    page_url = _register(client)
    response = client.get(page_url + "application.docx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    doc = Document(io.BytesIO(response.data))
    text = "\n".join(p.text for p in doc.paragraphs)
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    assert _application(services).number in text
    assert "项目注册申请表" in text and "南宁示范测试项目" in cells


def test_an_unknown_token_is_not_found(client):
    assert client.get("/register/not-a-real-token/").status_code == 404
    assert client.get("/register/s.forged.signature/").status_code == 404


def test_status_lookup_needs_the_number_and_the_phone(client, services):
    case = create_registration(services, status=RegistrationStatus.REJECTED)
    with services.Session.begin() as db:
        db.get(RegistrationApplication, case["id"]).last_reason = "资料不全"
    wrong = client.post("/register/status", data={"number": case["number"], "phone": "13900000000"})
    assert 'id="status-result"' not in wrong.get_data(as_text=True)
    page = client.post("/register/status", data={"number": case["number"].lower(), "phone": PHONE}).get_data(
        as_text=True)
    assert 'data-status="rejected"' in page and "资料不全" in page
    assert 'id="correction-link"' not in page
    assert PHONE not in page


def _returned_case(services):
    case = create_registration(services, status=RegistrationStatus.RETURNED)
    with services.Session.begin() as db:
        db.get(RegistrationApplication, case["id"]).last_reason = "合同金额有误"
    return case


def test_a_returned_application_is_corrected_from_the_status_page(client, services, bridge):
    case = _returned_case(services)
    page = client.post("/register/status", data={"number": case["number"], "phone": PHONE}).get_data(as_text=True)
    assert "合同金额有误" in page
    link = re.search(r'id="correction-link" href="([^"]+)"', page).group(1)
    form_page = client.get(link).get_data(as_text=True)
    assert 'name="contract_value"' in form_page and "98765432.10" in form_page
    assert PHONE not in form_page and MASKED in form_page
    response = client.post(link, data={**registration_form(contact_phone="", contract_value="88888888.00"),
                                       "revision": str(case["revision"])})
    assert response.status_code == 302
    with services.Session() as db:
        correction = db.scalar(select(RegistrationCorrection).where(
            RegistrationCorrection.application_id == case["id"]))
    assert correction is not None and correction.base_revision == case["revision"]
    [(workflow_id, update, arg)] = bridge.updates
    assert workflow_id == case["workflow_id"]
    assert update == ProjectRegistrationWorkflow.resubmit
    assert arg == ResubmitInput(correction.id, case["revision"])
    assert PHONE not in correction.data_json  # the kept phone is stored encrypted


def test_the_creation_token_is_the_correction_link_too(client, services, bridge):
    case = _returned_case(services)
    response = client.post(f"/register/{case['token']}/correct",
                           data={**registration_form(), "revision": str(case["revision"]),
                                 "scan": upload(tiny_png(), "new.png")}, content_type="multipart/form-data")
    assert response.status_code == 302
    with services.Session() as db:
        correction = db.scalar(select(RegistrationCorrection))
    assert correction.scan_file_id is not None and len(bridge.updates) == 1


def test_a_correction_with_a_bad_scan_saves_nothing(client, services, bridge):
    case = _returned_case(services)
    response = client.post(f"/register/{case['token']}/correct",
                           data={**registration_form(), "revision": str(case["revision"]),
                                 "scan": upload(b"MZ not a scan", "scan.png")}, content_type="multipart/form-data")
    assert response.status_code == 200
    assert _count(services, RegistrationCorrection) == 0 and bridge.updates == []


def test_correction_is_only_offered_while_returned(client, services):
    case = create_registration(services, status=RegistrationStatus.IN_REVIEW)
    response = client.get(f"/register/{case['token']}/correct")
    assert response.status_code == 302 and response.headers["Location"] == f"/register/{case['token']}/"
