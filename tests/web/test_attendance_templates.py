"""GET /api/attendance/v1/templates: a terminal's template sync, signed, sealed for that device."""
from __future__ import annotations

import base64
import secrets
import time

from sqlalchemy import select

from domain.attendance_devices import Actor, revoke_device
from domain.device_templates import open_gallery
from domain.models import Account, AttendanceDevice
from domain.processes.attendance import API_PREFIX, signed_headers
from tests.helpers import enrolment as enrolment_helpers
from tests.helpers.enrolment import TEMPLATE
from tests.helpers.terminal import admitted_worker, api_device, exit_worker

PATH = f"{API_PREFIX}/templates"


def get_templates(client, serial: str, secret: str, since: str | None = None):
    headers = signed_headers(serial, secret, "GET", PATH, b"", timestamp=int(time.time()),
                             nonce=secrets.token_hex(16))
    return client.get(PATH, query_string={"since": since} if since else None, headers=headers)


def test_a_terminal_gets_its_projects_templates_sealed_for_it_and_an_exit_as_revoked(services, client):
    site = enrolment_helpers.site(services)
    first = admitted_worker(services, site, 401, TEMPLATE)
    second = admitted_worker(services, site, 402, bytes(reversed(TEMPLATE)), name="韦秀英")
    secret, other_secret = api_device(services, site, "GATE-01"), api_device(services, site, "GATE-02")

    answer = get_templates(client, "GATE-01", secret)
    assert answer.status_code == 200 and base64.b64encode(TEMPLATE).decode()[:40] not in answer.get_data(as_text=True)
    envelope = answer.get_json()
    gallery = open_gallery(envelope, "GATE-01", secret)
    assert [w for w, _ in gallery.templates] == [first, second] and dict(gallery.templates)[first] == TEMPLATE
    assert gallery.revoked == []
    unchanged = get_templates(client, "GATE-01", secret, since=envelope["version"])
    assert unchanged.get_json() == {"version": envelope["version"], "unchanged": True}
    assert open_gallery(get_templates(client, "GATE-02", other_secret).get_json(), "GATE-02", other_secret) == gallery

    exit_worker(services, site, first)
    after = open_gallery(get_templates(client, "GATE-01", secret, since=envelope["version"]).get_json(),
                         "GATE-01", secret)
    assert [w for w, _ in after.templates] == [second] and after.revoked == [first]
    with services.Session() as session:
        assert session.scalar(select(AttendanceDevice).where(AttendanceDevice.serial == "GATE-01")).last_contact_at


def test_an_unsigned_a_forged_or_a_revoked_devices_sync_is_refused(services, client):
    site = enrolment_helpers.site(services)
    admitted_worker(services, site, 411, TEMPLATE)
    secret = api_device(services, site, "GATE-01")
    unsigned = client.get(PATH)
    assert unsigned.status_code == 401 and unsigned.get_json()["code"] == "missing_headers"
    forged = get_templates(client, "GATE-01", secrets.token_hex(32))
    assert forged.status_code == 401 and forged.get_json()["code"] == "bad_signature"
    with services.Session.begin() as session:
        account = session.get(Account, site.actor_id)
        device = session.scalar(select(AttendanceDevice).where(AttendanceDevice.serial == "GATE-01"))
        revoke_device(session, Actor(account.id, account.display_name), device)
    revoked = get_templates(client, "GATE-01", secret)
    assert revoked.status_code == 403 and revoked.get_json()["code"] == "revoked_device"
    assert "ciphertext" not in revoked.get_json()
