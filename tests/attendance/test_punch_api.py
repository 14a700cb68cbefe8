"""The signed punch API through the real web app (`shiming web`'s composition, Flask test client):
resends add nothing, a day's offline backlog arrives whole, skew is flagged and kept, malformed items
are refused one by one, and every forged, stale, replayed or unauthorised request is refused with
its code and leaves nothing behind."""
from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import func, select

from domain import attendance_devices as devices
from domain.models import AttendanceDevice, DeviceRequestNonce, Punch, PunchQuarantine, StoredFile
from domain.processes.attendance import (
    MAX_BATCH_ITEMS,
    DeviceProtocol,
    IngestRefusal,
    ItemError,
    PunchChannel,
)
from tests.helpers import attendance as att

SERIAL = "GATE-A1"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(200)) + b"\xff\xd9"


def device_punches(services, serial: str = SERIAL) -> list[Punch]:
    with services.Session() as db:
        return list(db.scalars(select(Punch).join(AttendanceDevice, AttendanceDevice.id == Punch.device_id)
                               .where(AttendanceDevice.serial == serial).order_by(Punch.device_seq)))


def count(services, model) -> int:
    with services.Session() as db:
        return db.scalar(select(func.count()).select_from(model))


@pytest.fixture
def secret(services, site) -> str:
    return att.register(services, site, SERIAL)


def test_a_batch_is_stored_with_both_times_and_its_channel(services, site, secret, client):
    at = att.now_local() - timedelta(minutes=1)
    r = att.post_punches(client, SERIAL, secret, [att.item(1, site.worker_ids[0], at),
                                                  att.item(2, site.worker_ids[1], at, direction="out")])
    assert r.status_code == 200
    assert r.get_json()["stored"] == 2 and [x["outcome"] for x in r.get_json()["results"]] == ["stored", "stored"]
    first, second = device_punches(services)
    assert first.worker_id == site.worker_ids[0] and second.direction == "out"
    assert first.device_time == first.punched_at == at.astimezone(att.timezone.utc).replace(tzinfo=None)
    assert first.channel == PunchChannel.API and first.match_score == 900 and not first.skew_flagged
    assert abs(first.skew_seconds + 60) <= 5 and first.created_at >= first.device_time
    with services.Session() as db:
        assert db.scalar(select(AttendanceDevice.last_contact_at)) is not None


def test_resends_and_duplicated_batches_add_nothing(services, site, secret, client):
    at = att.now_local()
    batch = [att.item(seq, site.worker_ids[seq % 4], at - timedelta(minutes=seq)) for seq in range(1, 21)]
    batch.append(att.item(99, 777_777, at))  # an unknown worker: quarantined once
    assert att.post_punches(client, SERIAL, secret, batch).get_json()["stored"] == 20
    before = (count(services, Punch), count(services, PunchQuarantine))
    for _ in range(3):  # the same batch again (a lost answer), each time a new request
        again = att.post_punches(client, SERIAL, secret, batch).get_json()
        assert (again["stored"], again["duplicates"], again["quarantined"]) == (0, 21, 0)
    doubled = att.post_punches(client, SERIAL, secret, batch[:5] + batch[:5]).get_json()  # repeated within a batch
    assert doubled["duplicates"] == 10 and doubled["stored"] == 0
    assert (count(services, Punch), count(services, PunchQuarantine)) == before


def test_a_resend_with_other_content_is_refused_and_changes_nothing(services, site, secret, client):
    at = att.now_local()
    att.post_punches(client, SERIAL, secret, [att.item(1, site.worker_ids[0], at)])
    r = att.post_punches(client, SERIAL, secret, [att.item(1, site.worker_ids[1], at),
                                                  att.item(2, site.worker_ids[0], at),
                                                  att.item(2, site.worker_ids[0], at, direction="out")]).get_json()
    assert [(x["outcome"], x["code"]) for x in r["results"]] == [
        ("rejected", ItemError.CONFLICTING_RESEND), ("stored", None), ("rejected", ItemError.SEQ_REPEATED_IN_BATCH)]
    assert [(p.device_seq, p.worker_id, p.direction) for p in device_punches(services)] == [
        (1, site.worker_ids[0], "in"), (2, site.worker_ids[0], "in")]


def test_a_24_hour_offline_backlog_uploads_completely(services, site, secret, client):
    """One punch a minute for 24 hours, kept by the device while offline, uploaded in batches."""
    start = att.now_local() - timedelta(hours=24)
    backlog = [att.item(seq, site.worker_ids[seq % 4], start + timedelta(minutes=seq), "in" if seq % 2 else "out")
               for seq in range(1, 1441)]
    answered = [att.post_punches(client, SERIAL, secret, backlog[i:i + MAX_BATCH_ITEMS]).get_json()
                for i in range(0, len(backlog), MAX_BATCH_ITEMS)]
    assert sum(a["stored"] for a in answered) == 1440 and not any(a["rejected"] for a in answered)
    stored = device_punches(services)
    assert [p.device_seq for p in stored] == list(range(1, 1441))
    assert att.get_gaps(client, SERIAL, secret).get_json()["missing_count"] == 0
    # the device's own time is kept: a day-old punch is 24 h "behind" the server, flagged, never dropped
    assert stored[0].skew_flagged and stored[0].skew_seconds < -23 * 3600


def test_a_device_clock_far_from_the_servers_is_flagged_and_the_punch_kept(services, site, secret, client):
    now = att.now_local()
    r = att.post_punches(client, SERIAL, secret, [att.item(1, site.worker_ids[0], now + timedelta(hours=2)),
                                                  att.item(2, site.worker_ids[0], now + timedelta(seconds=20))])
    assert r.get_json()["stored"] == 2
    ahead, close = device_punches(services)
    assert ahead.skew_flagged and 7190 <= ahead.skew_seconds <= 7210
    assert not close.skew_flagged and abs(close.skew_seconds) < 60


def test_malformed_items_get_their_own_errors_while_the_good_ones_are_stored(services, site, secret, client):
    at = att.now_local()
    w = site.worker_ids[0]
    items = [
        att.item(1, w, at),
        "not an object",
        {"seq": 2, "worker_id": w, "direction": "in"},
        att.item(0, w, at),
        att.item(3, "abc", at),
        {**att.item(4, w, at), "time": "2026-12-03T07:31:05"},  # no offset
        att.item(5, w, at, direction="sideways"),
        att.item(6, w, at, match_score=1001),
        att.item(7, w, at, photo="!!!"),
        att.item(8, w, at, photo=base64.b64encode(JPEG).decode(), photo_sha256="0" * 64),
        att.item(9, w, at, serial="ANOTHER-DEVICE"),
        att.item(10, w, at, serial=SERIAL, photo=base64.b64encode(JPEG).decode(),
                 photo_sha256=hashlib.sha256(JPEG).hexdigest()),
    ]
    r = att.post_punches(client, SERIAL, secret, items)
    assert r.status_code == 200
    answer = r.get_json()
    assert [(x["index"], x["outcome"], x["code"]) for x in answer["results"]] == [
        (0, "stored", None), (1, "rejected", ItemError.NOT_AN_OBJECT), (2, "rejected", ItemError.MISSING_FIELD),
        (3, "rejected", ItemError.BAD_SEQ), (4, "rejected", ItemError.BAD_WORKER), (5, "rejected", ItemError.BAD_TIME),
        (6, "rejected", ItemError.BAD_DIRECTION), (7, "rejected", ItemError.BAD_SCORE),
        (8, "rejected", ItemError.BAD_PHOTO), (9, "rejected", ItemError.PHOTO_HASH_MISMATCH),
        (10, "rejected", ItemError.SERIAL_MISMATCH), (11, "stored", None)]
    assert answer["results"][2]["field"] == "time" and all(x["message"] for x in answer["results"] if x["code"])
    assert (answer["stored"], answer["rejected"]) == (2, 10)
    with_photo = device_punches(services)[-1]
    assert with_photo.photo_sha256 == hashlib.sha256(JPEG).hexdigest()
    with services.Session() as db:
        assert db.get(StoredFile, with_photo.photo_file_id).sha256 == with_photo.photo_sha256
    assert services.blobs.get(with_photo.photo_sha256) == JPEG


def test_an_unknown_worker_goes_to_quarantine_with_the_reference_the_device_sent(services, site, secret, client):
    r = att.post_punches(client, SERIAL, secret, [att.item(1, 424242, att.now_local())]).get_json()
    assert r["quarantined"] == 1 and r["results"][0]["outcome"] == "quarantined"
    with services.Session() as db:
        row = db.scalar(select(PunchQuarantine))
        assert (row.worker_ref, row.device_seq, row.project_id, row.resolved_at) == ("424242", 1, site.project_id, None)
    assert device_punches(services) == []


def _refusal(r) -> tuple[int, str]:
    assert r.get_json()["message"]
    return r.status_code, r.get_json()["code"]


def test_forged_wrong_secret_stale_and_unsigned_requests_are_refused(services, site, secret, client):
    at = att.now_local()
    batch = [att.item(1, site.worker_ids[0], at)]
    other_secret = att.register(services, site, "GATE-B2")
    body = att.body_of(batch)
    forged = att.headers(SERIAL, secret, "POST", att.PUNCHES_PATH, body)
    tampered = att.body_of([att.item(1, site.worker_ids[1], at)])  # signed body swapped for another
    assert _refusal(client.post(att.PUNCHES_PATH, data=tampered, headers=forged)) == (401, IngestRefusal.BAD_SIGNATURE)
    assert _refusal(att.post_punches(client, SERIAL, other_secret, batch)) == (401, IngestRefusal.BAD_SIGNATURE)
    stale = int(time.time()) - 301
    assert _refusal(att.post_punches(client, SERIAL, secret, batch, timestamp=stale)) == (
        401, IngestRefusal.STALE_TIMESTAMP)
    assert _refusal(att.post_punches(client, SERIAL, secret, batch, timestamp=int(time.time()) + 400)) == (
        401, IngestRefusal.STALE_TIMESTAMP)
    assert _refusal(client.post(att.PUNCHES_PATH, data=body)) == (401, IngestRefusal.MISSING_HEADERS)
    assert _refusal(att.post_punches(client, SERIAL, secret, batch, nonce="short")) == (400, IngestRefusal.BAD_NONCE)
    assert _refusal(att.post_punches(client, "NO-SUCH-GATE", secret, batch)) == (401, IngestRefusal.UNKNOWN_DEVICE)
    assert device_punches(services) == [] and count(services, DeviceRequestNonce) == 0


def test_a_replayed_request_is_refused_and_adds_nothing(services, site, secret, client):
    body = att.body_of([att.item(1, site.worker_ids[0], att.now_local())])
    signed = att.headers(SERIAL, secret, "POST", att.PUNCHES_PATH, body)
    assert client.post(att.PUNCHES_PATH, data=body, headers=signed).status_code == 200
    assert _refusal(client.post(att.PUNCHES_PATH, data=body, headers=signed)) == (401, IngestRefusal.REPLAYED_REQUEST)
    assert len(device_punches(services)) == 1


def test_a_revoked_device_is_refused(services, site, secret, client):
    with services.Session.begin() as db:
        devices.revoke_device(db, site.actor, devices.find_by_serial(db, SERIAL))
    r = att.post_punches(client, SERIAL, secret, [att.item(1, site.worker_ids[0], att.now_local())])
    assert _refusal(r) == (403, IngestRefusal.REVOKED_DEVICE)
    assert _refusal(att.get_gaps(client, SERIAL, secret)) == (403, IngestRefusal.REVOKED_DEVICE)
    assert device_punches(services) == []


def test_source_allowlist_and_protocol_are_enforced(services, site, client):
    fenced = att.register(services, site, "GATE-FENCED", sources="10.20.0.0/16")
    batch = [att.item(1, site.worker_ids[0], att.now_local())]
    assert _refusal(att.post_punches(client, "GATE-FENCED", fenced, batch)) == (403, IngestRefusal.SOURCE_NOT_ALLOWED)
    assert att.register(services, site, "ZK-1", protocol=DeviceProtocol.ZKTECO) is None
    assert _refusal(att.post_punches(client, "ZK-1", "00" * 32, batch)) == (403, IngestRefusal.WRONG_PROTOCOL)
    att.register(services, site, "GATE-LOCAL", sources="127.0.0.0/8")
    with services.Session() as db:
        local = devices.device_secret(services.cipher, devices.find_by_serial(db, "GATE-LOCAL"))
    assert att.post_punches(client, "GATE-LOCAL", local, batch).get_json()["stored"] == 1


@pytest.mark.parametrize("body, expected", [
    (b"not json", (400, IngestRefusal.MALFORMED_BATCH)),
    (b'{"punches": []}', (400, IngestRefusal.MALFORMED_BATCH)),
    (b'[1, 2]', (400, IngestRefusal.MALFORMED_BATCH)),
    (b'{"punches": ' + b"[" + b",".join([b"{}"] * (MAX_BATCH_ITEMS + 1)) + b"]}", (413, IngestRefusal.BATCH_TOO_LARGE)),
])
def test_a_malformed_batch_is_refused_whole(services, secret, client, body, expected):
    headers = att.headers(SERIAL, secret, "POST", att.PUNCHES_PATH, body)
    assert _refusal(client.post(att.PUNCHES_PATH, data=body, headers=headers)) == expected
    assert count(services, DeviceRequestNonce) == 0  # refused whole: the nonce may be used again


def test_the_gap_report_lists_the_devices_own_missing_sequence_numbers(services, site, secret, client):
    at = att.now_local()
    att.post_punches(client, SERIAL, secret, [att.item(s, site.worker_ids[0], at) for s in (2, 3, 7)]
                     + [att.item(9, 55555, at)])  # a quarantined punch is received: not a gap
    gaps = att.get_gaps(client, SERIAL, secret).get_json()
    assert gaps == {"device": SERIAL, "counted_from": 1, "missing_count": 5, "missing": [1, 4, 5, 6, 8],
                    "ranges": [[1, 1], [4, 6], [8, 8]]}


def test_a_terminals_steady_batches_are_never_throttled(services, site, secret, app, client):
    app.config["SHIMING_RATE_LIMITS"] = {k: "2 per hour" for k in app.config["SHIMING_RATE_LIMITS"]}
    at = att.now_local()
    statuses = {att.post_punches(client, SERIAL, secret, [att.item(seq, site.worker_ids[0], at)]).status_code
                for seq in range(1, 41)}
    assert statuses == {200} and len(device_punches(services)) == 40


def test_the_openapi_document_is_served_and_names_every_code(client):
    r = client.get(att.PUNCHES_PATH.rsplit("/", 1)[0] + "/openapi.yaml")
    assert r.status_code == 200 and r.mimetype == "application/yaml"
    doc = yaml.safe_load(r.data)
    assert doc["openapi"].startswith("3.") and {"/punches", "/gaps"} <= set(doc["paths"])
    text = r.data.decode()
    for code in (*IngestRefusal, *ItemError):
        assert code.value in text, code


def test_the_platforms_terminal_names_its_channel_in_the_signed_body(services, site, secret, client):
    at = att.now_local()
    body = json.dumps({"channel": "terminal", "punches": [att.item(1, site.worker_ids[0], at)]}).encode()
    signed = att.headers(SERIAL, secret, "POST", att.PUNCHES_PATH, body)
    assert client.post(att.PUNCHES_PATH, data=body, headers=signed).get_json()["stored"] == 1
    assert device_punches(services)[0].channel == PunchChannel.TERMINAL
    for channel in ("zkteco", "seed", 7):  # only the API's own clients may be named
        body = json.dumps({"channel": channel, "punches": [att.item(2, site.worker_ids[0], at)]}).encode()
        signed = att.headers(SERIAL, secret, "POST", att.PUNCHES_PATH, body)
        assert _refusal(client.post(att.PUNCHES_PATH, data=body, headers=signed)) == (
            400, IngestRefusal.MALFORMED_BATCH)
    assert len(device_punches(services)) == 1


def test_a_batch_that_keeps_meeting_a_locked_database_is_answered_busy_and_stores_nothing(services, site, secret,
                                                                                       client):
    """Another writer holds SQLite's write lock through every attempt: the device gets a 503 with
    the `busy` code in words and Retry-After (never the HTML error page), nothing is stored, and the
    same batch sent again once the lock is gone is stored whole."""
    import sqlite3

    from sqlalchemy import event

    @event.listens_for(services.engine, "connect")
    def _short_busy_timeout(dbapi_conn, _record):  # after the platform's own pragmas: wait 20 ms, not 30 s
        dbapi_conn.execute("PRAGMA busy_timeout=20")

    services.engine.dispose()
    batch = [att.item(seq, site.worker_ids[seq % 4], att.now_local() - timedelta(minutes=seq)) for seq in range(1, 6)]
    before = count(services, Punch)
    holder = sqlite3.connect(services.engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        response = att.post_punches(client, SERIAL, secret, batch)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    answer = response.get_json()
    assert answer["code"] == IngestRefusal.BUSY and "稍后重新发送" in answer["message"]
    assert count(services, Punch) == before
    again = att.post_punches(client, SERIAL, secret, batch).get_json()
    assert again["stored"] == 5 and count(services, Punch) == before + 5
