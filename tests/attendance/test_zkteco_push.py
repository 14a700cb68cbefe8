"""ATT-6 end to end: a simulated ZKTeco terminal speaks the PUSH protocol byte for byte to a real
`shiming web` process on loopback, with the Temporal dev server and a `shiming worker` behind it.

Handshake, an ATTLOG upload whose answer is lost and which the terminal sends again (stored once),
the admitted workers queued as user commands and confirmed, an exit through the real
WorkerExitWorkflow whose revocation becomes a delete command, consumed only when the terminal
confirms it; a failure return stays visible; unknown and refused devices; malformed lines
reported per line.
"""
from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
from datetime import datetime

import pytest
from sqlalchemy import func, select

from domain import worker_exit as wx
from domain.models import (
    Account,
    AttendanceDevice,
    AuditLog,
    DeviceCommand,
    Punch,
    PunchQuarantine,
    SiteAccessRevocation,
)
from domain.processes import zkteco as zk
from domain.processes.attendance import DeviceProtocol, PunchChannel
from domain.processes.worker_exit import WorkerExitInput
from shiming.seed import DEMO_ACCOUNTS
from tests.helpers.services import DB_BACKENDS
from tests.helpers.stack import run_in_thread, start_stack
from tests.helpers.waiting import poll
from tests.helpers.zk_terminal import ZkTerminal, admitted_site, register_terminal
from workflows.worker_exit import WorkerExitWorkflow

pytestmark = pytest.mark.slow

PASSWORDS = {username: password for username, password, *_rest in DEMO_ACCOUNTS}
MORNING = datetime(2026, 12, 3, 7, 58, 12)  # the terminal's local time (UTC+8)


@pytest.fixture(scope="module", params=DB_BACKENDS)
def stack(request, tmp_path_factory):
    """The processes on SQLite, and on MariaDB too when SHIMING_TEST_MYSQL_URL is set (its locks differ)."""
    url = None
    if request.param == "mysql":
        url = request.getfixturevalue("private_mysql_url")
        _empty(url)
    s = start_stack(tmp_path_factory.mktemp("zkteco"), database_url=url)
    yield s
    s.stop()


def _empty(url: str) -> None:
    """This session's MariaDB database without tables (another module may have used it)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        for (name,) in conn.execute(text("SHOW TABLES")).all():
            conn.execute(text(f"DROP TABLE `{name}`"))
        conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))
    engine.dispose()


@pytest.fixture(scope="module")
def site(stack):
    return admitted_site(stack.services, workers=4)  # the last two never punch: they may leave at once


def _count(services, model, *where) -> int:
    with services.Session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def _commands(services, device_serial: str) -> list[DeviceCommand]:
    with services.Session() as session:
        device_id = session.scalar(select(AttendanceDevice.id).where(AttendanceDevice.serial == device_serial))
        return list(session.scalars(select(DeviceCommand).where(DeviceCommand.device_id == device_id)
                                    .order_by(DeviceCommand.id)))


def test_unknown_serial_is_refused_and_nothing_is_stored(stack, site):
    stranger = ZkTerminal(stack.web_url, "NOSUCHSERIAL01")
    before = _count(stack.services, Punch)
    for answer in (stranger.handshake(), stranger.upload(("1\t2026-12-03 08:00:00\t0\t15",)),
                   stranger.raw("GET", "/iclock/getrequest?SN=NOSUCHSERIAL01"),
                   stranger.raw("GET", "/iclock/cdata?options=all")):
        assert (answer.status, answer.body) == (403, zk.ANSWER_UNKNOWN_DEVICE)
    assert _count(stack.services, Punch) == before


def test_push_exchange_end_to_end(stack, site):
    services = stack.services
    project_id, (first, second, leaver, _other), serial = site
    terminal = ZkTerminal(stack.web_url, serial)

    # handshake: the option block for this serial
    answer = terminal.handshake()
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/plain")
    assert answer.headers["date"].endswith(" GMT")  # the terminal sets its clock from it
    assert terminal.options["TimeZone"] == "8" and terminal.options["Realtime"] == "1"
    assert terminal.options["ATTLOGStamp"] == "None" and "AttLog" in terminal.options["TransFlag"]
    assert terminal.sent_requests[-1].startswith(
        f"GET /iclock/cdata?SN={serial}&options=all&pushver=2.4.1&language=83 HTTP/1.1\r\n".encode())

    # ATTLOG: two known workers and one PIN the project does not know (quarantined), CRLF endings
    terminal.punch(str(first), MORNING)
    terminal.punch(str(second), MORNING.replace(minute=59))
    terminal.punch("999999", MORNING.replace(second=40))
    lines = list(terminal.pending)
    assert terminal.upload(crlf=True).body == "OK: 3"
    # the answer was lost on the way: the terminal sends the same lines again, with a new one
    terminal.pending = lines
    terminal.punch(str(first), MORNING.replace(hour=17, minute=31), zk.AttStatus.CHECK_OUT)
    assert terminal.upload().body == "OK: 4"
    with services.Session() as session:
        punches = session.scalars(select(Punch).where(Punch.device_id.is_not(None)).order_by(Punch.device_seq)).all()
        assert [(p.device_seq, p.direction, p.channel) for p in punches] == [
            (1, "in", PunchChannel.ZKTECO), (2, "in", PunchChannel.ZKTECO), (4, "out", PunchChannel.ZKTECO)]
        assert punches[0].device_time == datetime(2026, 12, 2, 23, 58, 12)  # 07:58:12 at UTC+8
        [quarantined] = session.scalars(select(PunchQuarantine)).all()
        assert (quarantined.worker_ref, quarantined.device_seq, quarantined.project_id) == ("999999", 3, project_id)

    # the admitted workers are queued as user adds, handed out on the poll and confirmed
    handed = terminal.poll()
    assert [text.split("\t")[0] for _id, text in handed] == [f"DATA USER PIN={pw}" for pw in site[1]]
    assert terminal.poll() == []  # handed out once
    assert terminal.report().body == "OK"
    assert set(terminal.users) == {str(pw) for pw in site[1]}
    assert [(c.kind, c.status, c.return_code) for c in _commands(services, serial)] == [
        (zk.CommandKind.USER_ADD, zk.CommandStatus.CONFIRMED, 0)] * 4

    # the exit of a worker, through the real process; its revocation becomes a delete command
    revocation_id = _exit(stack, project_id, leaver)
    [(delete_id, delete)] = terminal.poll()
    assert delete == f"DATA DELETE USERINFO PIN={leaver}"
    with services.Session() as session:
        assert session.get(SiteAccessRevocation, revocation_id).consumed_at is None  # sent, not yet applied
    terminal.report()
    assert str(leaver) not in terminal.users
    with services.Session() as session:
        assert session.get(SiteAccessRevocation, revocation_id).consumed_at is not None
        assert session.get(DeviceCommand, delete_id).status == zk.CommandStatus.CONFIRMED


def _exit(stack, project_id: int, pw_id: int) -> int:
    """Request the exit as the project page does and let WorkerExitWorkflow finish it."""
    services = stack.services
    with services.Session.begin() as session:
        actor = session.scalar(select(Account).where(Account.username == "project"))
        workflow_id = wx.request_exit(session, project_id, pw_id, actor, "合同期满").exit_workflow_id
        actor_id = actor.id

    async def start():
        client = await stack.client()
        await client.start_workflow(WorkerExitWorkflow.run, WorkerExitInput(pw_id, actor_id), id=workflow_id,
                                    task_queue=services.settings.task_queue)

    run_in_thread(start)

    def revoked():
        with services.Session() as session:
            return session.scalar(select(SiteAccessRevocation.id).where(SiteAccessRevocation.project_worker_id == pw_id))

    return poll(revoked, "the exit's site-access revocation")


def test_a_failed_delete_stays_visible_and_the_revocation_unconsumed(stack, site):
    services = stack.services
    project_id, ids, serial = site
    register_terminal(services, project_id, "CGXH201260002")  # a second terminal, which will fail the delete
    other = ZkTerminal(stack.web_url, "CGXH201260002")
    other.handshake()
    # registered after the first exit was applied: it gets the admitted workers, not that delete
    assert [text.split("\t")[0] for _cid, text in other.poll()] == [
        f"DATA USER PIN={pw}" for pw in (ids[0], ids[1], ids[3])]

    # a second exit: both terminals get the delete; the new one fails it
    first = ZkTerminal(stack.web_url, serial)
    revocation_id = _exit(stack, project_id, ids[3])
    [(ok_id, _)] = first.poll()
    other.fail_prefix = "DATA DELETE"
    [(failed_id, _)] = other.poll()
    first.report()
    assert other.report().body == "OK"
    with services.Session() as session:
        failed = session.get(DeviceCommand, failed_id)
        assert (failed.status, failed.return_code) == (zk.CommandStatus.FAILED, -1002)
        assert session.get(DeviceCommand, ok_id).status == zk.CommandStatus.CONFIRMED
        assert session.get(SiteAccessRevocation, revocation_id).consumed_at is None
    assert str(ids[3]) in other.users and other.poll() == []  # still on that terminal; not sent again

    # the project's devices page shows the failure
    page = _devices_page(stack.web_url, project_id)
    assert 'data-commands-of="CGXH201260002" data-failed="1"' in page
    assert f'data-failed-command="{failed_id}"' in page and "-1002" in page


def _devices_page(base: str, project_id: int) -> str:
    """The devices page as the project account sees it (login form with its CSRF token)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(f"{base}/login", timeout=30) as r:
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', r.read().decode()).group(1)
    form = urllib.parse.urlencode({"csrf_token": token, "username": "project", "password": PASSWORDS["project"]})
    opener.open(urllib.request.Request(f"{base}/login", data=form.encode(), method="POST"), timeout=30).close()
    with opener.open(f"{base}/attendance/projects/{project_id}/devices", timeout=30) as r:
        return r.read().decode()


def test_malformed_lines_are_reported_per_line_and_do_not_block_the_others(stack, site):
    services = stack.services
    _project_id, ids, serial = site
    terminal = ZkTerminal(stack.web_url, serial)
    before = _count(services, Punch)
    answer = terminal.upload((
        "not a line",
        f"{ids[0]}\t2026-12-03 25:00:00\t0\t15",
        f"{ids[0]}\t2026-12-04 08:00:00\t0\t15\t0\t0\t0",
        f"{ids[0]}\t2026-12-04 08:00:01\t7\t15",
    ))
    assert answer.body == "OK: 1"
    assert _count(services, Punch) == before + 1
    with services.Session() as session:
        row = session.scalars(select(AuditLog).where(AuditLog.action == "zkteco.lines_refused")
                              .order_by(AuditLog.id.desc())).first()
        assert json.loads(row.detail)["lines"] == [[1, "too_few_fields"], [2, "bad_time"], [4, "bad_status"]]


def test_a_revoked_device_or_a_foreign_source_is_refused(stack, site):
    services = stack.services
    register_terminal(services, site[0], "CGXH201260003", sources="10.8.0.0/16")  # not loopback
    register_terminal(services, site[0], "CGXH201260004", revoked=True)
    register_terminal(services, site[0], "CGXH201260005", protocol=DeviceProtocol.API)  # the signed API's
    for serial in ("CGXH201260003", "CGXH201260004", "CGXH201260005"):
        answer = ZkTerminal(stack.web_url, serial).handshake()
        assert (answer.status, answer.body) == (403, zk.ANSWER_UNKNOWN_DEVICE)


def test_operlog_userinfo_and_options_are_taken_and_an_unknown_table_is_refused(stack, site):
    terminal = ZkTerminal(stack.web_url, site[2])
    body = (f"OPLOG 4\t0\t2026-12-03 08:00:00\t0\t0\t0\t0\nUSER PIN={site[1][0]}\tName=x\tPri=0\n"
            "FP PIN=1\tFID=0\tSize=4\tValid=1\tTMP=AAAA\nnonsense\n").encode()
    assert terminal.post_table(zk.Table.OPERLOG, body).body == "OK: 3"
    assert terminal.post_table(zk.Table.USERINFO, f"PIN={site[1][1]}\tName=y\n".encode()).body == "OK: 1"
    assert terminal.post_table("options", b"~DeviceName=SpeedFace-V5L,FWVersion=Ver 8.0.4\n").body == "OK: 0"
    refused = terminal.post_table("ATTPHOTO", b"PIN=1\n")
    assert (refused.status, refused.body) == (400, "UNKNOWN TABLE")
    with stack.services.Session() as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == "zkteco.operlog").order_by(AuditLog.id)).all()
        assert [json.loads(r.detail) for r in rows[-2:]] == [
            {"user_pins": [str(site[1][0])], "lines": [[4, "unknown_record"]]},
            {"user_pins": [str(site[1][1])], "lines": []}]


def test_concurrent_resends_of_one_terminal_store_each_line_once(stack, site):
    from concurrent.futures import ThreadPoolExecutor

    _project_id, ids, serial = site
    lines = [zk.format_attlog_line(str(ids[n % 2]), datetime(2026, 12, 5, 7, 0, n)) for n in range(20)]
    before = _count(stack.services, Punch)

    def send_until_ok(_n) -> str:
        terminal = ZkTerminal(stack.web_url, serial)
        for _attempt in range(20):  # a real terminal sends again after ErrorDelay until it hears OK
            answer = terminal.upload(tuple(lines))
            if answer.status == 200:
                return answer.body
        return f"{answer.status} {answer.body}"

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(send_until_ok, range(6)))
    assert answers == ["OK: 20"] * 6
    assert _count(stack.services, Punch) == before + 20
