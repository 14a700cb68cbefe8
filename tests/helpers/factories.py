"""Test data built through the domain's own functions."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from domain import registration as reg
from domain.models import Account, District
from domain.services import Services
from shiming.seed import demo_credit_code


def registration_data(session, district_code: str = "450103", phone: str = "13912345678", name: str = "测试项目") -> reg.RegistrationData:
    district = session.scalar(select(District).where(District.code == district_code))
    return reg.RegistrationData(
        name=name, address="南宁市青秀区测试路8号", district_id=district.id,
        builder_name="测试建设单位", builder_credit_code=demo_credit_code("12450100MB0000003"),
        contractor_name="测试总包单位", contractor_credit_code=demo_credit_code("91450100MA5K9XYW2"),
        owner_name="测试业主单位", owner_credit_code=demo_credit_code("12450100MB0000004"),
        contract_value_fen=987_654_321, planned_start=date(2026, 12, 1), planned_end=date(2027, 6, 30),
        contact_name="张联系", contact_phone=phone,
    )


def create_application(services: Services, **kwargs) -> tuple[int, str, str]:
    """A draft application; returns (id, number, workflow_id)."""
    with services.Session.begin() as session:
        app, _token = reg.create_application(session, services.cipher, registration_data(session, **kwargs))
        return app.id, app.number, app.workflow_id


def account_id(services: Services, username: str) -> int:
    with services.Session() as session:
        return session.scalar(select(Account.id).where(Account.username == username))
