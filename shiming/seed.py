"""Demo data: districts, one account of every role, and a registered demo project.

Idempotent: running it again changes nothing that exists.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from domain import registration as reg
from domain.models import Account, District, Enterprise, Role, utcnow
from domain.processes.registration import RegistrationStatus
from domain.passwords import hash_password
from domain.services import Services

DISTRICTS = [("450103", "南宁市青秀区"), ("450107", "南宁市西乡塘区"), ("450203", "柳州市鱼峰区")]

# username, password, role, display name, district code
DEMO_ACCOUNTS = [
    ("admin", "Admin2026!", Role.ADMIN, "系统管理员", None),
    ("reviewer", "Review2026!", Role.BUREAU_REVIEWER, "青秀区建管科 李审核", "450103"),
    ("reviewer2", "Review2026!", Role.BUREAU_REVIEWER, "青秀区建管科 王审核", "450103"),
    ("reviewer_xxt", "Review2026!", Role.BUREAU_REVIEWER, "西乡塘区建管科 赵审核", "450107"),
    ("chief", "Chief2026!", Role.BUREAU_CHIEF, "青秀区建管科 科长", "450103"),
    ("enterprise", "Enterprise2026!", Role.ENTERPRISE, "广西建工示范总包有限公司", "450103"),
    ("project", "Project2026!", Role.PROJECT, "示范项目部", "450103"),
    ("secadmin", "Secure2026!", Role.SECURITY_ADMIN, "安全管理员", None),
    ("auditor", "Audit2026!", Role.AUDITOR, "审计员", None),
    ("supervisor", "Super2026!", Role.SUPERVISOR, "自治区住建厅监管处", None),
]



def demo_credit_code(seed: str) -> str:
    """A valid unified social credit code built from 17 characters of `seed`."""
    from domain.rules import credit_code_check_char

    return seed + credit_code_check_char(seed)


def seed_demo(services: Services) -> list[tuple[str, str, str]]:
    """Create the demo data; returns (username, password, role) for every demo login."""
    with services.Session.begin() as session:
        districts = {}
        for code, name in DISTRICTS:
            d = session.scalar(select(District).where(District.code == code))
            if d is None:
                d = District(code=code, name=name)
                session.add(d)
                session.flush()
            districts[code] = d
        contractor_code = demo_credit_code("91450100MA5K9XYW1")
        ent = session.scalar(select(Enterprise).where(Enterprise.credit_code == contractor_code))
        if ent is None:
            ent = Enterprise(name="广西建工示范总包有限公司", credit_code=contractor_code)
            session.add(ent)
            session.flush()
        project_id = None
        if session.scalar(select(Account).where(Account.username == "project")) is None:
            data = reg.RegistrationData(
                name="青秀区示范安置房项目", address="南宁市青秀区示范路1号", district_id=districts["450103"].id,
                builder_name="南宁市示范建设单位", builder_credit_code=demo_credit_code("12450100MB0000001"),
                contractor_name=ent.name, contractor_credit_code=contractor_code,
                owner_name="南宁市示范业主单位", owner_credit_code=demo_credit_code("12450100MB0000002"),
                contract_value_fen=12_345_678_900, planned_start=date(2026, 3, 1), planned_end=date(2027, 12, 31),
                contact_name="陈联系", contact_phone="13800138000",
            )
            app, _token = reg.create_application(session, services.cipher, data)
            app.status, app.submitted_at, app.decided_at = RegistrationStatus.APPROVED, utcnow(), utcnow()
            project, account, _pw = reg.approve(session, services.cipher, app)
            project.enterprise_id = ent.id
            session.delete(account)  # replaced by the demo login below
            session.flush()
            project_id = project.id
        for username, password, role, display, district_code in DEMO_ACCOUNTS:
            if session.scalar(select(Account).where(Account.username == username)) is not None:
                continue
            session.add(Account(
                username=username, display_name=display, password_hash=hash_password(password), role=role,
                district_id=districts[district_code].id if district_code else None,
                enterprise_id=ent.id if role in (Role.ENTERPRISE, Role.PROJECT) else None,
                project_id=project_id if role == Role.PROJECT else None,
                is_active=True, must_change_password=False, created_at=utcnow(),
            ))
    return [(u, p, r) for u, p, r, _d, _c in DEMO_ACCOUNTS]
