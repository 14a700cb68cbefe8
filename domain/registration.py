"""Project registration (REG-1…4): the facts side of ProjectRegistrationWorkflow."""
from __future__ import annotations

import hashlib
import io
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Optional

from docx import Document
from docx.shared import Pt
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit
from .errors import CodedError
from .accounts import enterprise_of_contractor
from .calendar import LOCAL_TZ
from .models import (
    Account,
    District,
    HumanTask,
    Project,
    RegistrationApplication,
    RegistrationCorrection,
    RegistrationStatus,
    Role,
    TaskStatus,
    utcnow,
)
from .money import format_yuan
from .passwords import hash_password, random_initial_password
from .processes.registration import Refusal as R
from .processes.registration import workflow_id_for
from .pii import PiiCipher
from .rules import is_valid_credit_code, is_valid_mobile, normalize_credit_code, normalize_mobile

MAX_CONTRACT_FEN = 10**15  # 10 trillion yuan: anything above is a typing error


class RegistrationError(CodedError):
    """A business refusal; `code` is translated for the user."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(code, message=message or code)


@dataclass
class RegistrationData:
    name: str
    address: str
    district_id: int
    builder_name: str
    builder_credit_code: str
    contractor_name: str
    contractor_credit_code: str
    owner_name: str
    owner_credit_code: str
    contract_value_fen: int
    planned_start: date
    planned_end: date
    contact_name: str
    contact_phone: str  # plaintext only in memory; stored encrypted

    def to_json(self, cipher: PiiCipher) -> str:
        d = asdict(self)
        d["contact_phone"] = cipher.encrypt(self.contact_phone, "phone")
        d["planned_start"] = self.planned_start.isoformat()
        d["planned_end"] = self.planned_end.isoformat()
        return json.dumps(d, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, cipher: PiiCipher) -> "RegistrationData":
        d = json.loads(text)
        d["contact_phone"] = cipher.decrypt(d["contact_phone"], "phone")
        d["planned_start"] = date.fromisoformat(d["planned_start"])
        d["planned_end"] = date.fromisoformat(d["planned_end"])
        return cls(**d)


def check_data(session: Session, data: RegistrationData) -> dict[str, str]:
    """Field → error code for everything wrong with `data` (empty when valid)."""
    errors: dict[str, str] = {}
    for field_name in ("name", "address", "builder_name", "contractor_name", "owner_name", "contact_name"):
        if not getattr(data, field_name).strip():
            errors[field_name] = "required"
    for field_name in ("builder_credit_code", "contractor_credit_code", "owner_credit_code"):
        if not is_valid_credit_code(getattr(data, field_name)):
            errors[field_name] = "bad_credit_code"
    if not is_valid_mobile(data.contact_phone):
        errors["contact_phone"] = "bad_mobile"
    if data.planned_end < data.planned_start:
        errors["planned_end"] = "end_before_start"
    if not (0 < data.contract_value_fen <= MAX_CONTRACT_FEN):
        errors["contract_value"] = "bad_amount"
    if session.get(District, data.district_id) is None:
        errors["district_id"] = "unknown_district"
    return errors


def normalized(data: RegistrationData) -> RegistrationData:
    return RegistrationData(
        **{
            **asdict(data),
            "name": data.name.strip(),
            "address": data.address.strip(),
            "builder_name": data.builder_name.strip(),
            "contractor_name": data.contractor_name.strip(),
            "owner_name": data.owner_name.strip(),
            "contact_name": data.contact_name.strip(),
            "builder_credit_code": normalize_credit_code(data.builder_credit_code),
            "contractor_credit_code": normalize_credit_code(data.contractor_credit_code),
            "owner_credit_code": normalize_credit_code(data.owner_credit_code),
            "contact_phone": normalize_mobile(data.contact_phone),
        }
    )


def _copy_facts(target, data: RegistrationData, cipher: PiiCipher) -> None:
    for key, value in asdict(data).items():
        if key == "contact_phone":
            target.contact_phone_enc = cipher.encrypt(value, "phone")
            target.contact_phone_hash = cipher.lookup_hash(value, "phone")
        else:
            setattr(target, key, value)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_application(session: Session, cipher: PiiCipher, data: RegistrationData) -> tuple[RegistrationApplication, str]:
    """Save a draft application; returns it with the applicant's secret access token."""
    data = normalized(data)
    errors = check_data(session, data)
    if errors:
        raise RegistrationError(R.INVALID, json.dumps(errors))
    token = secrets.token_urlsafe(24)
    app = RegistrationApplication(
        number="pending-" + secrets.token_hex(8),
        status=RegistrationStatus.DRAFT,
        revision=1,
        access_token_hash=token_hash(token),
        created_at=utcnow(),
    )
    _copy_facts(app, data, cipher)
    session.add(app)
    session.flush()
    app.number = f"REG{datetime.now(LOCAL_TZ):%Y%m%d}{app.id:06d}"  # the applicant's calendar day
    app.workflow_id = workflow_id_for(app.number)
    audit.record(session, actor_id=None, actor_name=data.contact_name, action="registration.create",
                 target_type="registration", target_id=app.id, business_key=app.number)
    return app, token


def data_of(app: RegistrationApplication, cipher: PiiCipher) -> RegistrationData:
    return RegistrationData(
        name=app.name, address=app.address, district_id=app.district_id,
        builder_name=app.builder_name, builder_credit_code=app.builder_credit_code,
        contractor_name=app.contractor_name, contractor_credit_code=app.contractor_credit_code,
        owner_name=app.owner_name, owner_credit_code=app.owner_credit_code,
        contract_value_fen=app.contract_value_fen, planned_start=app.planned_start,
        planned_end=app.planned_end, contact_name=app.contact_name,
        contact_phone=cipher.decrypt(app.contact_phone_enc, "phone"),
    )


def find_by_token(session: Session, token: str) -> Optional[RegistrationApplication]:
    if not token:
        return None
    return session.scalar(select(RegistrationApplication).where(RegistrationApplication.access_token_hash == token_hash(token)))


def find_by_number_and_phone(session: Session, cipher: PiiCipher, number: str, phone: str) -> Optional[RegistrationApplication]:
    app = session.scalar(select(RegistrationApplication).where(RegistrationApplication.number == (number or "").strip().upper()))
    if app is None or app.contact_phone_hash != cipher.lookup_hash(normalize_mobile(phone), "phone"):
        return None
    return app


def save_correction(session: Session, cipher: PiiCipher, app: RegistrationApplication, data: RegistrationData,
                    scan_file_id: Optional[int]) -> RegistrationCorrection:
    if app.status != RegistrationStatus.RETURNED:
        raise RegistrationError(R.NOT_RETURNED_FACT)
    data = normalized(data)
    errors = check_data(session, data)
    if errors:
        raise RegistrationError(R.INVALID, json.dumps(errors))
    row = RegistrationCorrection(application_id=app.id, base_revision=app.revision,
                                 data_json=data.to_json(cipher), scan_file_id=scan_file_id, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def apply_correction(session: Session, cipher: PiiCipher, correction_id: int) -> RegistrationApplication:
    """Apply an accepted correction; applying it twice changes nothing."""
    corr = session.get(RegistrationCorrection, correction_id)
    if corr is None:
        raise RegistrationError(R.UNKNOWN_CORRECTION)
    app = session.get(RegistrationApplication, corr.application_id)
    if corr.applied_at is not None:
        return app
    if corr.base_revision != app.revision:
        raise RegistrationError(R.STALE_CORRECTION)
    _copy_facts(app, RegistrationData.from_json(corr.data_json, cipher), cipher)
    if corr.scan_file_id:
        app.scan_file_id = corr.scan_file_id
    app.revision += 1
    app.status = RegistrationStatus.IN_REVIEW
    corr.applied_at = utcnow()
    audit.record(session, actor_id=None, actor_name=app.contact_name, action="registration.resubmit",
                 target_type="registration", target_id=app.id, business_key=app.number,
                 detail={"revision": app.revision})
    return app


def approve(session: Session, cipher: PiiCipher, app: RegistrationApplication) -> tuple[Project, Account, Optional[str]]:
    """Create the project and its account; returns the initial password only when newly created.

    ACC-6: the project belongs to its general contractor's enterprise, found by the contractor's
    unified social credit code; when no enterprise has that code yet, the project stays without
    one until the administrator creates that enterprise's account (`accounts.link_projects`).
    """
    project = session.scalar(select(Project).where(Project.registration_id == app.id))
    if project is None:
        project = Project(code=f"P{app.number[3:]}", district_id=app.district_id, registration_id=app.id,
                          created_at=utcnow())
        _copy_facts(project, data_of(app, cipher), cipher)
        enterprise = enterprise_of_contractor(session, project.contractor_credit_code)
        project.enterprise_id = enterprise.id if enterprise is not None else None
        session.add(project)
        session.flush()
    account = session.scalar(select(Account).where(Account.project_id == project.id, Account.role == Role.PROJECT))
    password = None
    if account is None:
        password = random_initial_password()
        account = Account(username=project.code.lower(), display_name=app.name[:100],
                          password_hash=hash_password(password), role=Role.PROJECT,
                          district_id=app.district_id, project_id=project.id, enterprise_id=project.enterprise_id,
                          is_active=True,
                          must_change_password=True, created_at=utcnow())
        session.add(account)
        session.flush()
    app.project_id = project.id
    return project, account, password


def open_tasks(session: Session, workflow_id: str) -> list[HumanTask]:
    return list(session.scalars(select(HumanTask).where(HumanTask.workflow_id == workflow_id,
                                                         HumanTask.status.in_(TaskStatus.OPEN))))


def application_docx(app: RegistrationApplication, district_name: str, labels: dict[str, str]) -> bytes:
    """The printable registration application, to be stamped with the project seal.

    `labels` carries the translated captions so the document follows the user's language.
    """
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "SimSun"
    style.font.size = Pt(11)
    doc.add_heading(labels["title"], level=1)
    doc.add_paragraph(f'{labels["number"]}: {app.number}')
    rows = [
        (labels["name"], app.name),
        (labels["address"], app.address),
        (labels["district"], district_name),
        (labels["builder"], f"{app.builder_name} ({app.builder_credit_code})"),
        (labels["contractor"], f"{app.contractor_name} ({app.contractor_credit_code})"),
        (labels["owner"], f"{app.owner_name} ({app.owner_credit_code})"),
        (labels["contract_value"], format_yuan(app.contract_value_fen)),
        (labels["period"], f"{app.planned_start.isoformat()} — {app.planned_end.isoformat()}"),
        (labels["contact"], app.contact_name),
    ]
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in rows:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = label, value
    doc.add_paragraph("")
    doc.add_paragraph(labels["declaration"])
    doc.add_paragraph(f'{labels["seal"]}:')
    doc.add_paragraph(f'{labels["date"]}:')
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
