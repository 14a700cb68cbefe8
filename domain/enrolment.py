"""Enrolment facts (ENR-1, ENR-4…7): what the enrolment process writes and reads.

The vocabulary and messages are domain/processes/enrolment.py; the process is
workflows/enrolment.py. Every function takes the caller's session and writes nothing outside it;
the activities call them one transaction each, and each is idempotent (a retry finds its own write).

- `start_enrolment`: the record as completed at the enrolment device becomes an `enrolment` row,
  every identifier encrypted (ID number, phones) and the face template sealed to the row; it is
  checked first (`EnrolmentError` with a code; nothing is written on a refusal).
- `active_elsewhere`: the projects where the same person (by ID number hash) is active.
- `create_worker`: the worker (created, or found by ID number and confirmed by the card read:
  `verified_by_card`), the face consent with its time and recorder, the attendance mode (a worker
  who refused consent is enrolled for card attendance), the one face template per worker (sealed
  to the worker's id), the emergency contact, and the engagement with its contract period.
- `create_app_account`: the worker app account (login by ID number, initial password = last 6
  characters of it, must change at first login).
- The labour contract to print and sign is domain/labour_contract.py.
- `record_contract_scan`, `record_training`, `admit`, `cancel`.

The card-read identity reaches the platform through the specialist's browser from the local
device agent: the platform re-checks the ID number (GB 11643, birth date, region) and the card's
validity, and trusts the device agent paired with that browser for the rest.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, face, scope, workforce
from .models import (
    Account,
    Company,
    Enrolment,
    FaceTemplate,
    ProjectWorker,
    SafetyTraining,
    SiteAccessGrant,
    StoredFile,
    Team,
    Worker,
    WorkerAppAccount,
    utcnow,
)
from .passwords import hash_password
from .pii import PiiCipher
from .processes.enrolment import (
    COURSE_MAX,
    EnrolmentState,
    FaceConsent,
    attendance_mode_for,
    initial_app_password,
    workflow_id_for,
)
from .processes.worker_exit import EngagementStatus
from .rules import (
    TRADE_CODES,
    id_number_problems,
    is_valid_mobile,
    local_today,
    mask_id_number,
    normalize_id_number,
    normalize_mobile,
    normalize_trade_code,
)

EMERGENCY_PHONE = "emergency_phone"
LEADER_PHONE = "leader_phone"
TEMPLATE_MAX_BYTES = 8192  # a 512-float template is 2 KB
TEMPLATE_MIN_BYTES = 256  # 64 float32: the smallest model dimension accepted


class EnrolmentError(ValueError):
    """A refused enrolment record; `code` is shown translated (web/project/enrolment.py)."""

    def __init__(self, code: str, field: str = ""):
        super().__init__(code)
        self.code, self.field = code, field


@dataclass
class EnrolmentRecord:
    """What the enrolment page collected: the card read, the phone, the consent, the face, the record."""

    name: str
    id_number: str
    phone: str
    trade: str
    company_id: int
    team_id: Optional[int]
    new_team_name: str = ""
    team_leader_name: str = ""
    team_leader_phone: str = ""
    emergency_contact_name: str = ""
    emergency_contact_phone: str = ""
    contract_start: Optional[date] = None
    contract_end: Optional[date] = None
    daily_rate_fen: int = 0
    verified_by_card: bool = False
    card_valid_to: Optional[date] = None  # None: 长期 (or no card read)
    face_consent: str = FaceConsent.REFUSED
    face_template: Optional[bytes] = None


def staged_template_ref(enrolment_id: int) -> str:
    return f"enrolment-{enrolment_id}"


def _check(session: Session, project_id: int, r: EnrolmentRecord, today: date) -> tuple[str, str]:
    """The normalised ID number and phone, or EnrolmentError."""
    id_number = normalize_id_number(r.id_number)
    if not r.name.strip() or len(r.name.strip()) > 50:
        raise EnrolmentError("name_required", "name")
    if id_number_problems(id_number, today=today):
        raise EnrolmentError("id_number_invalid", "id_number")
    if r.card_valid_to is not None and r.card_valid_to < today:
        raise EnrolmentError("card_expired", "id_number")
    phone = normalize_mobile(r.phone)
    if not (phone.isascii() and is_valid_mobile(phone)):
        raise EnrolmentError("phone_invalid", "phone")
    if normalize_trade_code(r.trade) not in TRADE_CODES:
        raise EnrolmentError("trade_unknown", "trade")
    company = session.get(Company, r.company_id)
    if company is None or company.project_id != project_id:
        raise EnrolmentError("company_unknown", "company_id")
    if r.team_id:
        team = session.get(Team, r.team_id)
        if team is None or team.project_id != project_id or team.company_id != company.id:
            raise EnrolmentError("team_unknown", "team_id")
    else:
        if not r.new_team_name.strip() or len(r.new_team_name.strip()) > 100:
            raise EnrolmentError("team_required", "new_team_name")
        if not r.team_leader_name.strip() or len(r.team_leader_name.strip()) > 50:
            raise EnrolmentError("team_leader_required", "team_leader_name")
        leader_phone = normalize_mobile(r.team_leader_phone)
        if leader_phone and not (leader_phone.isascii() and is_valid_mobile(leader_phone)):
            raise EnrolmentError("phone_invalid", "team_leader_phone")
    if not r.emergency_contact_name.strip() or len(r.emergency_contact_name.strip()) > 50:
        raise EnrolmentError("emergency_contact_required", "emergency_contact_name")
    emergency = normalize_mobile(r.emergency_contact_phone)
    if not (emergency.isascii() and is_valid_mobile(emergency)):
        raise EnrolmentError("phone_invalid", "emergency_contact_phone")
    if r.contract_start is None:
        raise EnrolmentError("contract_period_invalid", "contract_start")
    if r.contract_end is not None and r.contract_end < r.contract_start:
        raise EnrolmentError("contract_period_invalid", "contract_end")
    if r.daily_rate_fen < 0 or r.daily_rate_fen > 1_000_000:
        raise EnrolmentError("daily_rate_invalid", "daily_rate")
    if r.face_consent not in (FaceConsent.GIVEN, FaceConsent.REFUSED):
        raise EnrolmentError("consent_required", "face_consent")
    if r.face_consent == FaceConsent.GIVEN and not r.face_template:
        raise EnrolmentError("face_required", "face")
    if r.face_template is not None and (len(r.face_template) > TEMPLATE_MAX_BYTES or len(r.face_template) % 4
                                        or len(r.face_template) < TEMPLATE_MIN_BYTES):
        raise EnrolmentError("face_required", "face")  # not a float32 template of a face model
    if r.face_consent == FaceConsent.REFUSED and r.face_template:
        raise EnrolmentError("face_without_consent", "face")  # no face is kept without consent
    return id_number, phone


def start_enrolment(session: Session, cipher: PiiCipher, project_id: int, actor: Account,
                    r: EnrolmentRecord, *, today: Optional[date] = None) -> Enrolment:
    """Check the record and write the enrolment row (its `workflow_id` set); EnrolmentError on a refusal."""
    today = today or local_today()
    id_number, phone = _check(session, project_id, r, today)
    open_case = session.scalar(select(Enrolment.id).where(
        Enrolment.project_id == project_id,
        Enrolment.id_number_hash == workforce.id_number_hash(cipher, id_number),
        Enrolment.state.not_in((EnrolmentState.ADMITTED, EnrolmentState.CANCELLED))).limit(1))
    if open_case is not None:  # a second submit of the same person: the first case goes on
        raise EnrolmentError("already_enrolling", "id_number")
    team_id = r.team_id
    if not team_id:
        existing = session.scalar(select(Team).where(Team.project_id == project_id,
                                                     Team.name == r.new_team_name.strip()))
        if existing is not None:
            raise EnrolmentError("team_exists", "new_team_name")
        team = workforce.ensure_team(session, project_id, r.company_id, r.new_team_name)
        team.leader_name = r.team_leader_name.strip()
        leader_phone = normalize_mobile(r.team_leader_phone)
        team.leader_phone_enc = cipher.encrypt(leader_phone, LEADER_PHONE) if leader_phone else None
        team_id = team.id
    now = utcnow()
    row = Enrolment(
        project_id=project_id, company_id=r.company_id, team_id=team_id, state=EnrolmentState.CHECKING,
        started_by=actor.id, created_at=now, name=r.name.strip(),
        id_number_enc=cipher.encrypt(id_number, workforce.ID_NUMBER),
        id_number_hash=workforce.id_number_hash(cipher, id_number),
        phone_enc=cipher.encrypt(phone, workforce.PHONE),
        verified_by_card=r.verified_by_card, card_valid_to=r.card_valid_to,
        trade=normalize_trade_code(r.trade), daily_rate_fen=r.daily_rate_fen,
        emergency_contact_name=r.emergency_contact_name.strip(),
        emergency_contact_phone_enc=cipher.encrypt(normalize_mobile(r.emergency_contact_phone), EMERGENCY_PHONE),
        contract_start=r.contract_start, contract_end=r.contract_end,
        face_consent=r.face_consent, face_consent_at=now, face_consent_by=actor.id,
    )
    session.add(row)
    session.flush()
    row.workflow_id = workflow_id_for(row.id)
    if r.face_template:
        row.staged_template_enc = face.encrypt_template(cipher, r.face_template, staged_template_ref(row.id))
    audit.record(session, actor_id=actor.id, actor_name=actor.display_name, action="enrolment_started",
                 target_type="enrolment", target_id=row.id, business_key=row.workflow_id,
                 detail={"project_id": project_id, "id_number": mask_id_number(id_number),
                         "face_consent": r.face_consent, "verified_by_card": r.verified_by_card})
    return row


@scope.unscoped()  # the same person on projects outside the caller's scope
def active_elsewhere(session: Session, enrolment: Enrolment) -> list[int]:
    """Ids of the other projects where this person is active (ENR-4 duplicate)."""
    return list(session.scalars(
        select(ProjectWorker.project_id).join(Worker, Worker.id == ProjectWorker.worker_id)
        .where(Worker.id_number_hash == enrolment.id_number_hash, ProjectWorker.project_id != enrolment.project_id,
               ProjectWorker.status == EngagementStatus.ACTIVE)
        .order_by(ProjectWorker.project_id)))


def id_number_of(cipher: PiiCipher, enrolment: Enrolment) -> str:
    return cipher.decrypt(enrolment.id_number_enc, workforce.ID_NUMBER)


@scope.unscoped()
def create_worker(session: Session, cipher: PiiCipher, enrolment: Enrolment) -> ProjectWorker:
    """The worker and the engagement of this enrolment; a second call finds them and changes nothing."""
    if enrolment.project_worker_id is not None:
        return session.get(ProjectWorker, enrolment.project_worker_id)
    id_number = id_number_of(cipher, enrolment)
    worker = workforce.upsert_worker(session, cipher, name=enrolment.name, id_number=id_number,
                                     phone=cipher.decrypt(enrolment.phone_enc, workforce.PHONE))
    if enrolment.verified_by_card:
        worker.verified_by_card = True  # a card read confirms a roster worker; nothing ever unconfirms one
    worker.face_consent = enrolment.face_consent
    worker.face_consent_at, worker.face_consent_by = enrolment.face_consent_at, enrolment.face_consent_by
    worker.attendance_mode = attendance_mode_for(enrolment.face_consent)
    worker.emergency_contact_name = enrolment.emergency_contact_name
    worker.emergency_contact_phone_enc = enrolment.emergency_contact_phone_enc
    stored = session.scalar(select(FaceTemplate).where(FaceTemplate.worker_id == worker.id))
    if enrolment.staged_template_enc:
        template = face.decrypt_template(cipher, enrolment.staged_template_enc, staged_template_ref(enrolment.id))
        sealed = face.encrypt_template(cipher, template, str(worker.id))
        if stored is None:
            session.add(FaceTemplate(worker_id=worker.id, template_enc=sealed, created_at=utcnow()))
        else:  # one template per worker: the new capture replaces the old one
            stored.template_enc, stored.created_at = sealed, utcnow()
        enrolment.staged_template_enc = None
    elif stored is not None:  # consent refused: no face is kept
        session.delete(stored)
    team, company = session.get(Team, enrolment.team_id), session.get(Company, enrolment.company_id)
    pw = workforce.enrol(session, project_id=enrolment.project_id, worker=worker, team=team, company=company,
                         trade=enrolment.trade, daily_rate_fen=enrolment.daily_rate_fen,
                         entry_date=enrolment.contract_start)
    pw.status = EngagementStatus.ACTIVE
    pw.contract_start, pw.contract_end = enrolment.contract_start, enrolment.contract_end
    pw.enrolment_id, pw.admitted_at = enrolment.id, None
    enrolment.worker_id, enrolment.project_worker_id = worker.id, pw.id
    enrolment.state = EnrolmentState.CREATING
    session.flush()
    return pw


@scope.unscoped()
def create_app_account(session: Session, cipher: PiiCipher, enrolment: Enrolment) -> WorkerAppAccount:
    """ENR-5: the worker's app account; an existing one (enrolled before) is kept as it is."""
    account = session.scalar(select(WorkerAppAccount).where(WorkerAppAccount.worker_id == enrolment.worker_id))
    if account is None:
        id_number = id_number_of(cipher, enrolment)
        account = WorkerAppAccount(worker_id=enrolment.worker_id, login_hash=enrolment.id_number_hash,
                                   password_hash=hash_password(initial_app_password(id_number)),
                                   must_change_password=True, created_at=utcnow())
        session.add(account)
        session.flush()
    return account


def _actor(session: Session, actor_id: int) -> Account:
    actor = session.get(Account, actor_id)
    if actor is None:
        raise EnrolmentError("unknown_actor")
    return actor


def _file(session: Session, file_id: int) -> StoredFile:
    stored = session.get(StoredFile, file_id)
    if stored is None:
        raise EnrolmentError("unknown_file")
    return stored


def record_contract_scan(session: Session, enrolment: Enrolment, actor_id: int, file_id: int) -> None:
    if enrolment.contract_scan_file_id == file_id:
        return
    actor = _actor(session, actor_id)
    _file(session, file_id)
    enrolment.contract_scan_file_id, enrolment.contract_scanned_by = file_id, actor.id
    enrolment.contract_scanned_at = utcnow()
    audit.record(session, actor_id=actor.id, actor_name=actor.display_name, action="contract_scan_uploaded",
                 target_type="enrolment", target_id=enrolment.id, business_key=enrolment.workflow_id,
                 detail={"file_id": file_id})


def training_of(session: Session, enrolment: Enrolment) -> Optional[SafetyTraining]:
    return session.scalar(select(SafetyTraining).where(SafetyTraining.enrolment_id == enrolment.id))


def record_training(session: Session, enrolment: Enrolment, actor_id: int, course: str, trained_on: str,
                    hours_x10: int, certificate_file_id: int) -> SafetyTraining:
    found = training_of(session, enrolment)
    if found is not None:
        return found
    actor = _actor(session, actor_id)
    _file(session, certificate_file_id)
    row = SafetyTraining(project_id=enrolment.project_id, worker_id=enrolment.worker_id, enrolment_id=enrolment.id,
                         course=course.strip()[:COURSE_MAX], trained_on=date.fromisoformat(trained_on),
                         hours_x10=hours_x10, certificate_file_id=certificate_file_id, recorded_by=actor.id,
                         recorded_at=utcnow())
    session.add(row)
    session.flush()
    audit.record(session, actor_id=actor.id, actor_name=actor.display_name, action="safety_training_recorded",
                 target_type="enrolment", target_id=enrolment.id, business_key=enrolment.workflow_id,
                 detail={"training_id": row.id, "hours_x10": hours_x10})
    return row


def admit(session: Session, enrolment: Enrolment, at: datetime) -> SiteAccessGrant:
    """ENR-7: site access, only with the contract scan on file and the training recorded."""
    if enrolment.contract_scan_file_id is None or training_of(session, enrolment) is None:
        raise EnrolmentError("not_ready")
    grant = session.scalar(select(SiteAccessGrant).where(
        SiteAccessGrant.project_worker_id == enrolment.project_worker_id))
    if grant is None:
        grant = SiteAccessGrant(project_id=enrolment.project_id, worker_id=enrolment.worker_id,
                                project_worker_id=enrolment.project_worker_id, workflow_id=enrolment.workflow_id,
                                issued_at=at)
        session.add(grant)
    pw = session.get(ProjectWorker, enrolment.project_worker_id)
    pw.admitted_at = pw.admitted_at or at
    enrolment.admitted_at = enrolment.admitted_at or at
    enrolment.state = EnrolmentState.ADMITTED
    session.flush()
    return grant


def cancel(session: Session, enrolment: Enrolment, reason: str) -> None:
    """The case ends without admission; a worker already created stays a worker, enrolled, not admitted."""
    if enrolment.state in (EnrolmentState.ADMITTED, EnrolmentState.CANCELLED):
        return
    enrolment.state = EnrolmentState.CANCELLED
    enrolment.cancelled_reason = reason[:200]
    enrolment.staged_template_enc = None  # no face is kept for a case that did not go through
