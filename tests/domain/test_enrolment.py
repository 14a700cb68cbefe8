"""The enrolment's pure rules (domain/processes/enrolment.py) and its facts' checks (domain/enrolment.py)."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from domain import enrolment as enr
from domain.models import Account, Enrolment, Team
from domain.processes.enrolment import (
    AttendanceMode,
    FaceConsent,
    Refusal,
    Waiting,
    admission_ready,
    attendance_mode_for,
    initial_app_password,
    training_problem,
    waiting_for_documents,
    workflow_id_for,
)
from tests.helpers import enrolment as h


def test_the_initial_app_password_is_the_last_six_characters_of_the_id_number():
    assert initial_app_password("450103198506011239") == "011239"
    assert initial_app_password(" 45010319850601123x ") == "01123X"


def test_admission_needs_both_the_contract_and_the_training():
    assert [admission_ready(c, t) for c, t in ((False, False), (True, False), (False, True), (True, True))] \
        == [False, False, False, True]
    assert waiting_for_documents(False, False) == Waiting.CONTRACT_AND_TRAINING
    assert waiting_for_documents(True, False) == Waiting.TRAINING
    assert waiting_for_documents(False, True) == Waiting.CONTRACT_SCAN


def test_a_worker_who_refuses_face_consent_attends_by_card():
    assert attendance_mode_for(FaceConsent.GIVEN) == AttendanceMode.FACE
    assert attendance_mode_for(FaceConsent.REFUSED) == AttendanceMode.CARD
    assert workflow_id_for(7) == "enrolment-7"


@pytest.mark.parametrize("course, day, hours, file_id, code", [
    ("", "2026-12-02", 240, 1, Refusal.COURSE_REQUIRED),
    ("x" * 101, "2026-12-02", 240, 1, Refusal.COURSE_REQUIRED),
    ("三级安全教育", "2026-02-30", 240, 1, Refusal.DATE_INVALID),
    ("三级安全教育", "2026-12-02", 0, 1, Refusal.HOURS_INVALID),
    ("三级安全教育", "2026-12-02", 2001, 1, Refusal.HOURS_INVALID),
    ("三级安全教育", "2026-12-02", 240, 0, Refusal.SCAN_REQUIRED),
    ("三级安全教育", "2026-12-02", 240, 1, None),
])
def test_training_records_are_checked(course, day, hours, file_id, code):
    assert training_problem(course, day, hours, file_id) == code


def _start(services, s, **changes):
    with services.Session.begin() as session:
        return enr.start_enrolment(session, services.cipher, s.project_id, session.get(Account, s.actor_id),
                                   h.record(s, **changes), today=date(2026, 12, 3))


@pytest.mark.parametrize("changes, code", [
    ({"name": " "}, "name_required"),
    ({"id_number": h.id_number()[:-1] + ("0" if h.id_number()[-1] != "0" else "1")}, "id_number_invalid"),
    ({"card_valid_to": date(2026, 12, 2)}, "card_expired"),
    ({"phone": "13800"}, "phone_invalid"),
    ({"trade": "999"}, "trade_unknown"),
    ({"company_id": 10**6}, "company_unknown"),
    ({"team_id": None, "new_team_name": ""}, "team_required"),
    ({"team_id": None, "new_team_name": "新班组"}, "team_leader_required"),
    ({"emergency_contact_phone": "x"}, "phone_invalid"),
    ({"contract_end": date(2026, 11, 30)}, "contract_period_invalid"),
    ({"face_template": None}, "face_required"),
    ({"face_template": b"\x00" * 10}, "face_required"),
    ({"face_consent": FaceConsent.REFUSED}, "face_without_consent"),
    ({"face_consent": "maybe"}, "consent_required"),
])
def test_a_bad_record_is_refused_with_its_code_and_writes_nothing(services, changes, code):
    s = h.site(services)
    with pytest.raises(enr.EnrolmentError) as refused:
        _start(services, s, **changes)
    assert refused.value.code == code
    with services.Session() as session:
        assert session.scalar(select(func.count()).select_from(Enrolment)) == 0
        assert session.scalar(select(func.count()).select_from(Team)) == 1


def test_the_record_is_stored_encrypted_with_a_new_team_and_its_leader(services):
    s = h.site(services)
    row = _start(services, s, team_id=None, new_team_name="木工班组", team_leader_name="黄班长",
                 team_leader_phone="13700137000")
    with services.Session() as session:
        stored = session.get(Enrolment, row.id)
        team = session.get(Team, stored.team_id)
        assert (team.name, team.leader_name, team.company_id) == ("木工班组", "黄班长", s.company_id)
        assert "13700137000" not in (team.leader_phone_enc or "")
        assert h.id_number() not in stored.id_number_enc and "13800138000" not in stored.phone_enc
        assert enr.id_number_of(services.cipher, stored) == h.id_number()
        assert stored.face_consent == FaceConsent.GIVEN and stored.face_consent_by == s.actor_id
        assert stored.staged_template_enc and h.TEMPLATE.hex() not in stored.staged_template_enc
    with pytest.raises(enr.EnrolmentError) as refused:  # the same person again while the case is open
        _start(services, s)
    assert refused.value.code == "already_enrolling"
