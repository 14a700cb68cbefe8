"""The devices page of the labour specialist: register (the secret shown once, sealed at rest),
revoke, last contact, backlog and gaps, the quarantine resolved; all audited, all within scope."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text, update

from domain import attendance_devices as devices
from domain.models import AttendanceDevice, AuditLog, ProjectWorker, Punch, PunchQuarantine
from domain.processes.attendance import SECRET_CONTEXT, DeviceProtocol, DeviceStatus, PunchChannel
from tests.helpers import attendance as att
from tests.helpers.enrolment import other_project


def page_of(client, project_id: int) -> str:
    r = client.get(f"/attendance/projects/{project_id}/devices")
    assert r.status_code == 200
    return r.get_data(as_text=True)


def register(client, project_id: int, serial: str, protocol: str = DeviceProtocol.API, sources: str = ""):
    return client.post(f"/attendance/projects/{project_id}/devices",
                       data={"serial": serial, "kind": "gate", "protocol": protocol, "allowed_sources": sources})


def audit_actions(services, action: str) -> list[AuditLog]:
    with services.Session() as db:
        return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_the_secret_is_shown_once_and_stored_only_sealed(services, site, specialist):
    r = register(specialist, site.project_id, "GATE-NEW-1", sources="10.1.0.0/16")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    secret = re.search(r'id="device-secret">([0-9a-f]{64})<', r.get_data(as_text=True)).group(1)
    with services.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM attendance_device WHERE serial = 'GATE-NEW-1'")).mappings().one()
    assert secret not in str(dict(row)) and services.cipher.decrypt(row["secret_enc"], SECRET_CONTEXT) == secret
    assert row["allowed_sources"] == "10.1.0.0/16" and row["status"] == DeviceStatus.ACTIVE
    page = page_of(specialist, site.project_id)
    assert 'data-device-serial="GATE-NEW-1"' in page and secret not in page
    [entry] = audit_actions(services, "attendance_device.register")
    assert secret not in (entry.detail or "") and "GATE-NEW-1" in entry.detail


def test_a_zkteco_device_has_no_secret(services, site, specialist):
    r = register(specialist, site.project_id, "ZK-CN-0001", protocol=DeviceProtocol.ZKTECO)
    assert r.status_code == 200 and 'id="device-secret"' not in r.get_data(as_text=True)
    with services.Session() as db:
        assert db.scalar(select(AttendanceDevice.secret_enc).where(AttendanceDevice.serial == "ZK-CN-0001")) is None


def flashed_error(client, project_id: int) -> str:
    match = re.search(r'class="flash flash-error" role="alert">([^<]+)<', page_of(client, project_id))
    return match.group(1) if match else ""


@pytest.mark.parametrize("serial, sources, words", [
    ("GATE 1", "", "序列号"), ("", "", "必填"), ("GATE-OK", "10.0.0.0/33", "来源地址")])
def test_a_bad_registration_is_refused_with_a_message(services, site, specialist, serial, sources, words):
    r = register(specialist, site.project_id, serial, sources=sources)
    assert r.status_code == 302
    assert words in flashed_error(specialist, site.project_id)
    with services.Session() as db:
        assert db.scalar(select(AttendanceDevice)) is None


def test_a_serial_is_registered_once(services, site, specialist):
    register(specialist, site.project_id, "GATE-TWICE")
    r = register(specialist, site.project_id, "GATE-TWICE")
    assert r.status_code == 302 and "已登记" in flashed_error(specialist, site.project_id)
    with services.Session() as db:
        assert len(list(db.scalars(select(AttendanceDevice)))) == 1


def test_revoking_is_audited_and_shown(services, site, specialist):
    att.register(services, site, "GATE-R")
    with services.Session() as db:
        device_id = db.scalar(select(AttendanceDevice.id))
    assert specialist.post(f"/attendance/devices/{device_id}/revoke").status_code == 302
    assert 'data-status="revoked"' in page_of(specialist, site.project_id)
    assert specialist.post(f"/attendance/devices/{device_id}/revoke").status_code == 302
    assert "此前已停用" in flashed_error(specialist, site.project_id)
    assert len(audit_actions(services, "attendance_device.revoke")) == 1


def test_the_page_shows_last_contact_backlog_and_gaps(services, site, specialist, client):
    secret = att.register(services, site, "GATE-G")
    at = att.now_local()
    att.post_punches(client, "GATE-G", secret, [att.item(s, site.worker_ids[0], at) for s in (1, 2, 5)]
                     + [att.item(6, 31337, at)])
    page = page_of(specialist, site.project_id)
    row = re.search(r'<tr data-device-serial="GATE-G"[^>]*>', page).group(0)
    assert 'data-backlog="1"' in row and 'data-missing="2"' in row
    assert "3, 4" in page and "31337" in page  # the gaps, and the quarantined reference as the device sent it


def test_another_projects_device_and_page_are_out_of_scope(services, site, specialist):
    other = other_project(services)
    with services.Session.begin() as db:
        device, _secret = devices.register_device(db, services.cipher, site.actor, project_id=other,
                                                  serial="FOREIGN-1", kind="gate", protocol=DeviceProtocol.API)
        device_id = device.id
    assert specialist.get(f"/attendance/projects/{other}/devices").status_code == 404
    assert specialist.post(f"/attendance/devices/{device_id}/revoke").status_code == 404
    with services.Session() as db:
        assert db.get(AttendanceDevice, device_id).status == DeviceStatus.ACTIVE
    assert {a.target_type for a in audit_actions(services, "access.out_of_scope")} >= {"project", "attendance_device"}


def test_a_quarantined_punch_is_stored_once_the_worker_is_admitted_or_dismissed(services, site, specialist, client):
    secret = att.register(services, site, "GATE-Q")
    newcomer = site.worker_ids[0]
    with services.Session.begin() as db:  # not admitted yet
        db.execute(update(ProjectWorker).where(ProjectWorker.worker_id == newcomer).values(admitted_at=None))
    at = att.now_local()
    att.post_punches(client, "GATE-Q", secret, [att.item(1, newcomer, at), att.item(2, 999_001, at)])
    with services.Session() as db:
        first, second = db.scalars(select(PunchQuarantine).order_by(PunchQuarantine.device_seq))
    specialist.post(f"/attendance/quarantine/{first.id}/resolve", data={"decision": "store"})
    with services.Session() as db:
        assert db.get(PunchQuarantine, first.id).resolved_at is None  # refused: still not admitted
    with services.Session.begin() as db:
        db.execute(update(ProjectWorker).where(ProjectWorker.worker_id == newcomer).values(admitted_at=at))
    specialist.post(f"/attendance/quarantine/{first.id}/resolve", data={"decision": "store"})
    specialist.post(f"/attendance/quarantine/{second.id}/resolve", data={"decision": "dismiss"})
    with services.Session() as db:
        [punch] = db.scalars(select(Punch).where(Punch.device_id.is_not(None)))
        assert (punch.worker_id, punch.device_seq, punch.channel) == (newcomer, 1, PunchChannel.API)
        assert all(q.resolved_at and q.resolved_by == site.actor.account_id for q in db.scalars(select(PunchQuarantine)))
    assert len(audit_actions(services, "punch_quarantine.store")) == 1
    assert len(audit_actions(services, "punch_quarantine.dismiss")) == 1
    resent = att.post_punches(client, "GATE-Q", secret, [att.item(1, newcomer, at)]).get_json()
    assert resent["duplicates"] == 1  # the resolved punch is not stored twice
