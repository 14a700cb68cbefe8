"""The enrolment pages (ENR-1…7) against the real dev server and worker: the labour specialist
submits the record the device agent's answers filled in, follows the case, downloads the contract,
uploads the signed scan and records the training; the worker is then admitted. Refusals arrive
from the real process with their own words; a company account without the collect permission
sees no enrolment page; a bad record writes nothing."""
from __future__ import annotations

import asyncio
import base64
import io

from sqlalchemy import func, select

from domain import workforce
from domain.models import Account, Enrolment, SiteAccessGrant, StoredFile, Worker
from domain.processes.enrolment import FaceConsent
from domain.rules import mask_id_number
from tests.helpers.scan_samples import minimal_pdf
from tests.helpers import enrolment as h
from tests.helpers.workflow_env import wait_for
from tests.helpers.platform import get, platform, post


def form(s: h.Site, **changes) -> dict:
    values = {
        "name": "覃建国", "id_number": h.id_number(), "card_valid_to": "2035-01-01", "card_read": "1",
        "phone": "13800138000", "face_consent": FaceConsent.GIVEN,
        "face_template": base64.b64encode(h.TEMPLATE).decode(), "trade": "020", "company_id": str(s.company_id),
        "team_id": str(s.team_id), "emergency_contact_name": "覃妻", "emergency_contact_phone": "13900139001",
        "contract_start": "2026-12-01", "contract_end": "2027-11-30", "daily_rate": "350",
    }
    values.update(changes)
    return values


async def send(web, url: str, data: dict) -> str:
    response = await asyncio.to_thread(web.post, url, data=data, content_type="multipart/form-data",
                                       follow_redirects=True)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


async def test_the_specialist_enrols_a_worker_through_the_pages_until_admitted(dev_env, services, tmp_path):
    s = h.site(services)
    async with platform(dev_env, services, tmp_path) as p:
        web = p.page("project")
        assert "Read the ID card" in await get(web, f"/enrolment/new/{s.project_id}")
        page = await post(web, f"/enrolment/new/{s.project_id}", form(s))
        assert "The enrolment was submitted." in page
        with services.Session() as db:
            row = db.scalar(select(Enrolment))
        p.started.append(p.client.get_workflow_handle(row.workflow_id))
        again = await asyncio.to_thread(web.post, f"/enrolment/new/{s.project_id}", data=form(s))
        assert again.status_code == 400 and "already under way" in again.get_data(as_text=True)

        async def awaiting():
            text = await get(web, f"/enrolment/{row.id}")
            return text if 'data-state="awaiting_documents"' in text else None
        page = await wait_for(awaiting, "the enrolment to wait for documents")
        assert "Enrolled, not admitted" in page and "Upload the signed labour contract and record the safety training" in page
        assert h.id_number() not in page and mask_id_number(h.id_number()) in page
        response = await asyncio.to_thread(web.get, f"/enrolment/{row.id}/contract.docx")
        assert response.status_code == 200 and response.data[:2] == b"PK"

        # a refusal of the real process, in its own words: hours out of range
        page = await send(web, f"/enrolment/{row.id}/training",
                          {"course": "三级安全教育", "trained_on": "2026-12-02", "hours": "500",
                           "certificate": (io.BytesIO(minimal_pdf()), "cert.pdf")})
        assert "Enter the training hours: more than 0 and at most 200." in page
        with services.Session() as db:  # the refused update left no file row
            files = db.scalar(select(func.count()).select_from(StoredFile))
        page = await send(web, f"/enrolment/{row.id}/contract-scan", {"scan": (io.BytesIO(b"not a scan"), "a.pdf")})
        assert "contract-on-file" not in page
        with services.Session() as db:
            assert db.scalar(select(func.count()).select_from(StoredFile)) == files
        page = await send(web, f"/enrolment/{row.id}/contract-scan", {"scan": (io.BytesIO(minimal_pdf()), "c.pdf")})
        assert "The signed contract is on file." in page
        page = await send(web, f"/enrolment/{row.id}/training",
                          {"course": "三级安全教育", "trained_on": "2026-12-02", "hours": "24",
                           "certificate": (io.BytesIO(minimal_pdf()), "cert.pdf")})
        assert "The safety training is recorded." in page

        async def admitted():
            text = await get(web, f"/enrolment/{row.id}")
            return text if 'data-state="admitted"' in text else None
        page = await wait_for(admitted, "the admission")
        assert "Admitted to the site" in page
        with services.Session() as db:
            assert db.scalar(select(func.count()).select_from(SiteAccessGrant)) == 1
            assert db.scalar(select(Worker)).verified_by_card


async def test_a_bad_record_is_refused_with_its_message_and_writes_nothing(dev_env, services, tmp_path):
    s = h.site(services)
    async with platform(dev_env, services, tmp_path) as p:
        web = p.page("project")
        bad_check_digit = h.id_number()[:-1] + ("0" if h.id_number()[-1] != "0" else "1")
        cases = [
            ({"id_number": bad_check_digit}, "The ID number is not valid"),
            ({"card_valid_to": "2020-01-01"}, "The ID card has expired"),
            ({"phone": "1234"}, "Enter a valid 11-digit mobile number."),
            ({"face_template": ""}, "Capture the worker&#39;s face"),
            ({"face_consent": FaceConsent.REFUSED}, "No face may be kept without the worker&#39;s consent"),
            ({"contract_end": "2026-01-01"}, "The contract period is not valid"),
            ({"team_id": "0", "new_team_name": "木工班组"}, "Name the new team&#39;s leader."),
            *(({"daily_rate": rate}, "Enter the daily rate in yuan") for rate in ("NaN", "-5", "0", "350.555",
                                                                                  "20000", "1e400")),
        ]
        for changes, message in cases:
            response = await asyncio.to_thread(web.post, f"/enrolment/new/{s.project_id}", data=form(s, **changes))
            assert response.status_code == 400 and message in response.get_data(as_text=True), changes
        with services.Session() as db:
            assert db.scalar(select(func.count()).select_from(Enrolment)) == 0


async def test_a_company_account_needs_the_collect_permission(dev_env, services, tmp_path):
    s = h.site(services)
    with services.Session.begin() as db:
        from domain.passwords import hash_password
        db.add(Account(username="labour_co", display_name="劳务公司", password_hash=hash_password("x"),
                       role="company", project_id=s.project_id, company_id=s.company_id, can_collect=False))
    async with platform(dev_env, services, tmp_path) as p:
        web = p.page("labour_co")
        response = await asyncio.to_thread(web.get, f"/enrolment/new/{s.project_id}")
        assert response.status_code == 403
        with services.Session.begin() as db:
            db.scalar(select(Account).where(Account.username == "labour_co")).can_collect = True
        assert "Read the ID card" in await get(web, f"/enrolment/new/{s.project_id}")


async def test_roster_workers_show_not_verified_by_card_until_a_card_read_confirms_them(dev_env, services, tmp_path):
    from shiming.seed_workforce import seed_workforce

    s = h.site(services)
    seed_workforce(services, s.project_id, workers=2, month="2026-10")  # paper-roster workers
    with services.Session() as db:
        roster_worker = db.scalars(select(Worker).order_by(Worker.id)).first()
        id_number = workforce.id_number_of(services.cipher, roster_worker)
        roster_name = roster_worker.name
    async with platform(dev_env, services, tmp_path) as p:
        web = p.page("project")
        listing = await get(web, "/project/workers")
        assert listing.count("data-not-verified") == 2
        page = await post(web, f"/enrolment/new/{s.project_id}", form(s, name=roster_name, id_number=id_number))
        assert "The enrolment was submitted." in page
        with services.Session() as db:
            row = db.scalar(select(Enrolment))
        p.started.append(p.client.get_workflow_handle(row.workflow_id))

        async def confirmed():
            return (await get(web, "/project/workers")).count("data-not-verified") == 1
        await wait_for(confirmed, "the card read to confirm the roster worker")
        with services.Session() as db:
            assert db.get(Worker, roster_worker.id).verified_by_card
            assert db.scalar(select(func.count()).select_from(Worker)) == 2  # the same person, not a new one


async def test_each_refusal_of_the_enrolments_updates_reaches_the_page_in_its_own_words(dev_env, services, tmp_path):
    """Issue 8, point 2, for the enrolment: through the real dev server, each refusal code of its
    updates (validators and activities) arrives unwrapped and the page's flash is its own message,
    never the generic one. The codes only a duplicate case can meet (unknown decision, reason, the
    documents while it waits for the decision) are in tests/workflows/test_enrolment.py."""
    from flask import get_flashed_messages
    from flask_babel import force_locale

    from domain.processes.enrolment import (ContractScanInput, Refusal, ResolveDuplicateInput,
                                            TrainingInput)
    from web.core import call_process
    from web.refusals import ENROLMENT_REFUSALS, REFUSALS
    from workflows.enrolment import EnrolmentWorkflow

    s = h.site(services)
    async with platform(dev_env, services, tmp_path) as p:
        web = p.page("project")
        await post(web, f"/enrolment/new/{s.project_id}", form(s))
        with services.Session() as db:
            row = db.scalar(select(Enrolment))
        handle = p.client.get_workflow_handle(row.workflow_id)
        p.started.append(handle)

        async def awaiting():
            return (await handle.query(EnrolmentWorkflow.status)).state == "awaiting_documents"
        await wait_for(awaiting, "the enrolment to wait for documents")
        bridge, scan = p.app.extensions["shiming"]["bridge"], h.stored_scan(services)

        async def page_says(update, message, code: str) -> None:
            def flashed() -> tuple[bool, str]:
                with p.app.test_request_context("/"), force_locale("en"):
                    called = call_process(lambda: bridge.update(row.workflow_id, update, message),
                                          ENROLMENT_REFUSALS)
                    return called.ok, " ".join(str(m) for m in get_flashed_messages())
            ok, text = await asyncio.to_thread(flashed)
            assert not ok and str(ENROLMENT_REFUSALS[code]) in text, (code, text)
            assert str(REFUSALS["Refused"]) not in text, code

        def training(**changes) -> TrainingInput:
            values = dict(actor_id=s.actor_id, course="三级安全教育", trained_on="2026-12-02", hours_x10=240,
                          certificate_file_id=scan)
            values.update(changes)
            return TrainingInput(**values)

        update_scan, update_training = EnrolmentWorkflow.submit_contract_scan, EnrolmentWorkflow.record_training
        await page_says(EnrolmentWorkflow.resolve_duplicate, ResolveDuplicateInput(s.actor_id, "continue"),
                        Refusal.NOT_IN_DUPLICATE_REVIEW)
        await page_says(update_training, training(course=" "), Refusal.COURSE_REQUIRED)
        await page_says(update_training, training(trained_on="2026-13-40"), Refusal.DATE_INVALID)
        await page_says(update_training, training(hours_x10=0), Refusal.HOURS_INVALID)
        await page_says(update_training, training(certificate_file_id=0), Refusal.SCAN_REQUIRED)
        await page_says(update_scan, ContractScanInput(s.actor_id, 0), Refusal.SCAN_REQUIRED)
        await page_says(update_scan, ContractScanInput(s.actor_id, 999_999), Refusal.UNKNOWN_FILE)  # activity
        await page_says(update_scan, ContractScanInput(999_999, scan), Refusal.UNKNOWN_ACTOR)  # activity
        assert await handle.execute_update(update_scan, ContractScanInput(s.actor_id, scan)) is False
        await page_says(update_scan, ContractScanInput(s.actor_id, scan), Refusal.CONTRACT_ON_FILE)
        assert await handle.execute_update(update_training, training()) is True

        async def admitted():
            return (await handle.query(EnrolmentWorkflow.status)).state == "admitted"
        await wait_for(admitted, "the admission")
        # admitted, the process has ended: an old page's update is told so
        await page_says(update_training, training(), Refusal.CASE_FINISHED)
