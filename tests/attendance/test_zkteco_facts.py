"""The facts behind the ZKTeco endpoints (domain/zkteco.py) on SQLite, and on MariaDB when
SHIMING_TEST_MYSQL_URL is set: sequence numbers given to lines that carry none, and the commands'
life (queued, sent, resent, confirmed), scoped with their device's project."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from domain import zkteco as facts
from domain.models import DeviceCommand, ProjectWorker, Punch, PunchQuarantine
from domain.processes import zkteco as zk
from tests.helpers.zk_terminal import admitted_site, register_terminal

NOW = datetime(2026, 12, 3, 1, 0, 0)


def _upload(services, serial: str, *lines: str):
    with services.Session.begin() as session:
        device, refusal = facts.admit_device(session, serial, "127.0.0.1")
        assert refusal is None
        return facts.take_attlog(session, device, zk.parse_attlog("\n".join(lines) + "\n"), NOW)


def _counts(services):
    with services.Session() as session:
        return (session.scalar(select(func.count()).select_from(Punch).where(Punch.device_id.is_not(None))),
                session.scalar(select(func.count()).select_from(PunchQuarantine)))


def test_lines_without_sequence_numbers_are_counted_once(any_db_services):
    services = any_db_services
    _project, ids, serial = admitted_site(services, workers=2)
    at = datetime(2026, 12, 3, 8, 0, 0)
    known = zk.format_attlog_line(str(ids[0]), at)
    strangers = [zk.format_attlog_line("800001", at), zk.format_attlog_line("800002", at)]  # the same second
    taken = _upload(services, serial, known, known, *strangers)
    assert taken.counts == {"stored": 1, "duplicate": 1, "quarantined": 2, "rejected": 0} and taken.taken == 4
    assert _counts(services) == (1, 2)
    again = _upload(services, serial, *strangers, known, zk.format_attlog_line(str(ids[1]), at))
    assert again.counts == {"stored": 1, "duplicate": 3, "quarantined": 0, "rejected": 0}
    assert _counts(services) == (2, 2)


def test_a_quarantined_line_resent_after_the_admission_is_still_counted_once(any_db_services):
    services = any_db_services
    _project, ids, serial = admitted_site(services, workers=1)
    with services.Session.begin() as session:
        session.get(ProjectWorker, ids[0]).admitted_at = None  # not admitted yet
    line = zk.format_attlog_line(str(ids[0]), datetime(2026, 12, 3, 8, 0, 0))
    assert _upload(services, serial, line).counts["quarantined"] == 1
    with services.Session.begin() as session:
        session.get(ProjectWorker, ids[0]).admitted_at = NOW
    assert _upload(services, serial, line).counts["duplicate"] == 1
    assert _counts(services) == (0, 1)


def test_commands_are_resent_when_unanswered_and_answers_of_another_device_are_not_taken(any_db_services):
    services = any_db_services
    project_id, ids, serial = admitted_site(services, workers=2)
    register_terminal(services, project_id, "OTHER0001")
    with services.Session.begin() as session:
        device, _r = facts.admit_device(session, serial, "127.0.0.1")
        assert facts.sync_commands(session, device, NOW) == 2
        assert facts.sync_commands(session, device, NOW) == 0  # queued once
        first = facts.hand_out(session, device, NOW)
        assert len(first) == 2 and facts.hand_out(session, device, NOW + timedelta(minutes=5)) == []
        assert facts.hand_out(session, device, NOW + facts.RESEND_AFTER + timedelta(seconds=1)) == first
        other, _r = facts.admit_device(session, "OTHER0001", "127.0.0.1")
        command_id = zk.parse_command(first[0])[0]
        reply = zk.CommandReply(1, command_id, 0)
        assert facts.confirm(session, other, [reply], NOW) == [1]  # not its command
        assert session.get(DeviceCommand, command_id).status == zk.CommandStatus.SENT
        assert facts.confirm(session, device, [reply, zk.CommandReply(2, 999999, 0)], NOW) == [2]
        assert session.get(DeviceCommand, command_id).status == zk.CommandStatus.CONFIRMED


def test_admission_refusals(any_db_services):
    services = any_db_services
    _project, _ids, serial = admitted_site(services, workers=1)
    with services.Session() as session:
        assert facts.admit_device(session, "", "127.0.0.1")[1] == zk.RequestRefusal.MISSING_SERIAL
        assert facts.admit_device(session, "NOPE", "127.0.0.1")[1] == zk.RequestRefusal.UNKNOWN_DEVICE
        assert facts.admit_device(session, serial, "10.1.2.3")[1] == zk.RequestRefusal.SOURCE_NOT_ALLOWED
        assert facts.admit_device(session, serial, "not an address")[1] == zk.RequestRefusal.SOURCE_NOT_ALLOWED
        assert facts.admit_device(session, serial, "127.0.0.9")[1] is None


def test_a_devices_commands_are_seen_only_within_its_projects_scope(any_db_services):
    services = any_db_services
    from domain import scope

    project_id, _ids, serial = admitted_site(services, workers=1)
    with services.Session.begin() as session:
        device, _r = facts.admit_device(session, serial, "127.0.0.1")
        facts.sync_commands(session, device, NOW)
    for projects, expected in ((frozenset({project_id}), 1), (frozenset({project_id + 1000}), 0)):
        token = scope.activate(scope.Scope(scope.PROJECTS, project_ids=projects))
        try:
            with services.Session() as session:
                assert len(session.scalars(select(DeviceCommand)).all()) == expected
        finally:
            scope.deactivate(token)
