"""The ZKTeco PUSH protocol module (ATT-6): bodies read line by line, answers written to the letter."""
from __future__ import annotations

from datetime import datetime

import pytest

from domain.processes import zkteco as zk


def test_attlog_lines_with_crlf_and_trailing_blank_lines_are_read():
    body = "12\t2026-12-03 08:01:02\t0\t15\t0\t0\t0\r\n13\t2026-12-03 17:30:00\t1\t1\r\n\r\n\n"
    parsed = zk.parse_attlog(body)
    assert parsed.problems == []
    first, second = parsed.records
    assert (first.line_no, first.pin, first.local_time, first.direction, first.verify) == (
        1, "12", datetime(2026, 12, 3, 8, 1, 2), "in", "15")
    assert (second.pin, second.direction, second.work_code) == ("13", "out", "")


def test_a_malformed_attlog_line_never_blocks_the_next():
    body = "\n".join([
        "12\t2026-12-03 08:01:02\t0\t15",   # 1 fine
        "12\t2026-13-03 08:01:02\t0\t15",   # 2 no 13th month
        "abc\t2026-12-03 08:01:02\t0\t15",  # 3 not a PIN
        "12\t2026-12-03 08:01:02\t9\t15",   # 4 no status 9
        "12\t2026-12-03 08:01:02",          # 5 status missing
        "",                                  # 6 blank: skipped, not a problem
        "14\t2026-12-03 08:05:00\t3\t15",   # 7 fine (break-in)
    ])
    parsed = zk.parse_attlog(body)
    assert [r.line_no for r in parsed.records] == [1, 7]
    assert [(p.line_no, p.code) for p in parsed.problems] == [
        (2, zk.LineError.BAD_TIME), (3, zk.LineError.BAD_PIN), (4, zk.LineError.BAD_STATUS),
        (5, zk.LineError.TOO_FEW_FIELDS)]
    assert parsed.records[1].direction == "in"


def test_operlog_and_userinfo_records():
    body = ("OPLOG 4\t0\t2026-12-03 08:00:00\t0\t0\t0\t0\n"
            "USER PIN=12\tName=Zhang San\tPri=0\tPasswd=\tCard=\tGrp=1\tTZ=0\n"
            "FP PIN=12\tFID=0\tSize=4\tValid=1\tTMP=AAAA\n"
            "PIN=13\tName=Li Si\n"
            "USER Name=nobody\n"
            "WHAT is this\n")
    parsed = zk.parse_table(zk.Table.OPERLOG, body)
    kinds = [type(r).__name__ for r in parsed.records]
    assert kinds == ["OpRecord", "UserRecord", "OpRecord", "UserRecord"]
    assert parsed.records[1].fields["Name"] == "Zhang San" and parsed.records[3].pin == "13"
    assert [(p.line_no, p.code) for p in parsed.problems] == [(5, zk.LineError.BAD_PIN),
                                                              (6, zk.LineError.UNKNOWN_RECORD)]
    assert zk.parse_table("ATTPHOTO", "x") is None


def test_an_upload_over_the_line_limit_reports_the_rest(monkeypatch):
    monkeypatch.setattr(zk, "MAX_LINES", 2)
    parsed = zk.parse_attlog("1\t2026-12-03 08:00:00\t0\n" * 3)
    assert len(parsed.records) == 2 and parsed.problems == [zk.LineProblem(3, zk.LineError.TOO_MANY_LINES)]


def test_option_block_is_what_a_terminal_reads():
    text = zk.format_options(zk.Options(serial="CGXH201260001"))
    assert text.startswith("GET OPTION FROM: CGXH201260001\n") and text.endswith("\n") and "\r" not in text
    serial, options = zk.parse_options(text)
    assert serial == "CGXH201260001"
    assert options["ATTLOGStamp"] == options["Stamp"] == "None"
    assert options["TransFlag"] == "TransData AttLog\tOpLog\tEnrollUser\tChgUser"
    assert (options["TimeZone"], options["Realtime"], options["Delay"], options["ErrorDelay"]) == ("8", "1", "10", "30")
    for key in ("OPERLOGStamp", "OpStamp", "TransTimes", "TransInterval", "Encrypt"):
        assert key in options
    with pytest.raises(ValueError):
        zk.parse_options("OK")


def test_commands_are_written_to_the_letter():
    add = zk.format_user_add(7, "12", "张\t三\r\n" + "x" * 40)
    assert add.startswith("C:7:DATA USER PIN=12\tName=张 三")
    name = add.split("\t")[1]
    assert len(name) == len("Name=") + zk.NAME_MAX and "\n" not in add and "\r" not in add
    assert zk.format_user_delete(8, "12") == "C:8:DATA DELETE USERINFO PIN=12"
    assert zk.format_commands([]) == "OK"
    assert zk.format_commands([add, "C:8:DATA DELETE USERINFO PIN=12"]).count("\n") == 2
    assert zk.parse_command("C:8:DATA DELETE USERINFO PIN=12") == (8, "DATA DELETE USERINFO PIN=12")
    assert zk.parse_command("OK") is None
    with pytest.raises(ValueError):
        zk.format_user_delete(9, "12\tName=x")


def test_device_replies_per_line():
    body = "ID=7&Return=0&CMD=DATA\r\nID=8&Return=-1002&CMD=DATA\nID=x&Return=0\nReturn=0\n\n"
    replies, problems = zk.parse_device_replies(body)
    assert [(r.command_id, r.return_code, r.ok) for r in replies] == [(7, 0, True), (8, -1002, False)]
    assert [(p.line_no, p.code) for p in problems] == [(3, zk.LineError.BAD_REPLY), (4, zk.LineError.BAD_REPLY)]


def test_device_time_is_read_in_the_time_zone_given_to_the_device():
    assert zk.device_time_utc(datetime(2026, 12, 3, 8, 0, 0)) == datetime(2026, 12, 3, 0, 0, 0)
    line = zk.format_attlog_line("12", datetime(2026, 12, 3, 8, 0, 0), zk.AttStatus.CHECK_OUT)
    assert line == "12\t2026-12-03 08:00:00\t1\t15\t0\t0\t0"
    assert zk.parse_attlog(line).records[0].direction == "out"
    assert zk.answer_ok(3) == "OK: 3"
