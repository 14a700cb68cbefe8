"""The ZKTeco PUSH protocol (ADMS / "iclock", ATT-6): what off-the-shelf face terminals speak.

I/O-free: text in, values out, and values in, text out. The web layer (web/iclock/) moves the
bytes; the facts (device commands, their confirmation) are in domain/zkteco.py. Implemented from
ZKTeco's published "PUSH SDK" / "Attendance PUSH Communication Protocol" documents:

- `GET /iclock/cdata?SN=<serial>&options=all&pushver=…` — the handshake. The server answers the
  option block: a first line `GET OPTION FROM: <serial>`, then `Key=Value` lines separated by LF
  (stamps, delays, the upload schedule, what to upload, real time, encryption, the time zone).
- `POST /iclock/cdata?SN=<serial>&table=ATTLOG&Stamp=…` — attendance records, one a line (LF, some
  firmware CRLF), fields separated by TAB: PIN, time `YYYY-MM-DD HH:MM:SS` (the device's local
  time), status (0 check-in, 1 check-out, 2 break-out, 3 break-in, 4 overtime-in, 5 overtime-out),
  verify mode (0 password, 1 fingerprint, 2 card, 15 face …), work code, reserved…; the server
  answers `OK: <n>`. `table=OPERLOG` carries `OPLOG …` operation records and `USER PIN=…\tName=…`
  user records (also `FP …`, `FACE …` biometric records); `table=USERINFO` user records.
- `GET /iclock/getrequest?SN=<serial>` — the device polls; the server answers `OK` or command
  lines `C:<id>:<command>`, LF-separated.
- `POST /iclock/devicecmd?SN=<serial>` — the results: lines `ID=<id>&Return=<code>&CMD=<name>`;
  Return 0 is success, a negative code a failure. The server answers `OK`.

The protocol carries no request signature: the trust model is in docs/zkteco.md.
Every parser works line by line: a malformed line gets its own `LineProblem` and never blocks the
next one; blank lines (a trailing LF, CRLF endings) are skipped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Optional
from urllib.parse import parse_qsl

from .attendance import Direction

ICLOCK_PREFIX = "/iclock"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DEVICE_TZ_HOURS = 8  # the TimeZone option the platform hands out: China Standard Time
LF, HT = "\n", "\t"
PIN_RE = re.compile(r"[0-9]{1,24}")  # the platform's PINs are engagement ids: digits only
NAME_MAX = 24  # the user name field of the terminals
MAX_LINES = 10_000  # lines of one upload; beyond, the rest is reported, not read
ANSWER_OK = "OK"
ANSWER_UNKNOWN_DEVICE = "UNKNOWN DEVICE"
RETURN_OK = 0


class Table(StrEnum):
    """The `table` query parameter of a POST to /iclock/cdata."""

    ATTLOG = "ATTLOG"
    OPERLOG = "OPERLOG"
    USERINFO = "USERINFO"
    OPTIONS = "OPTIONS"  # the device's own settings and counts, posted after a handshake: taken, not kept


class AttStatus(StrEnum):
    """ATTLOG's status field, and the direction each stands for."""

    CHECK_IN = "0"
    CHECK_OUT = "1"
    BREAK_OUT = "2"
    BREAK_IN = "3"
    OVERTIME_IN = "4"
    OVERTIME_OUT = "5"


IN, OUT = Direction.IN, Direction.OUT
DIRECTION_OF_STATUS = {AttStatus.CHECK_IN: IN, AttStatus.CHECK_OUT: OUT, AttStatus.BREAK_OUT: OUT,
                       AttStatus.BREAK_IN: IN, AttStatus.OVERTIME_IN: IN, AttStatus.OVERTIME_OUT: OUT}


class LineError(StrEnum):
    """Per-line codes of an upload or a command reply: the line is skipped, the others go on."""

    TOO_FEW_FIELDS = "too_few_fields"
    BAD_PIN = "bad_pin"
    BAD_TIME = "bad_time"
    BAD_STATUS = "bad_status"
    UNKNOWN_RECORD = "unknown_record"
    BAD_REPLY = "bad_reply"
    TOO_MANY_LINES = "too_many_lines"


class CommandKind(StrEnum):
    """device_command.kind."""

    USER_ADD = "user_add"
    USER_DELETE = "user_delete"


class CommandStatus(StrEnum):
    """device_command.status: queued → sent (handed out on a getrequest) → confirmed | failed."""

    QUEUED = "queued"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"


class RequestRefusal(StrEnum):
    """Why an iclock request was refused (all answered `UNKNOWN DEVICE`, the code is logged)."""

    MISSING_SERIAL = "missing_serial"
    UNKNOWN_DEVICE = "unknown_device"
    REVOKED_DEVICE = "revoked_device"
    WRONG_PROTOCOL = "wrong_protocol"
    SOURCE_NOT_ALLOWED = "source_not_allowed"


@dataclass(frozen=True)
class LineProblem:
    line_no: int  # 1-based, counting every line of the body (blank ones too)
    code: LineError


@dataclass(frozen=True)
class AttRecord:
    """One ATTLOG line: the PIN and the device's local time as stated."""

    line_no: int
    pin: str
    local_time: datetime  # naive, the device's clock in its time zone
    status: AttStatus
    verify: str = ""
    work_code: str = ""

    @property
    def direction(self) -> Direction:
        return DIRECTION_OF_STATUS[self.status]


@dataclass(frozen=True)
class UserRecord:
    """A `USER PIN=…\tName=…` line (OPERLOG or USERINFO): a user enrolled or changed at the device."""

    line_no: int
    pin: str
    fields: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OpRecord:
    """An `OPLOG <type>\t<operator>\t<time>\t…` line, or a biometric record (`FP`, `FACE`, …)
    taken but not kept (the platform's templates are its own, ENR-7)."""

    line_no: int
    kind: str
    values: tuple[str, ...] = ()


@dataclass
class Parsed:
    """The readable records of one body and a problem for each line that was not."""

    records: list = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)


@dataclass(frozen=True)
class CommandReply:
    """One line of POST /iclock/devicecmd."""

    line_no: int
    command_id: int
    return_code: int
    cmd: str = ""

    @property
    def ok(self) -> bool:
        return self.return_code == RETURN_OK


# --- reading ---------------------------------------------------------------------------------------


def _lines(body: str):
    """(line number, text) of the non-blank lines; CR before LF (and stray CRs) dropped."""
    for number, line in enumerate(body.split(LF), start=1):
        line = line.replace("\r", "")
        if line.strip():
            yield number, line


def _capped(parsed: Parsed, lines):
    for count, item in enumerate(lines, start=1):
        if count > MAX_LINES:
            parsed.problems.append(LineProblem(item[0], LineError.TOO_MANY_LINES))
            return
        yield item


def parse_time(text: str) -> Optional[datetime]:
    try:
        return datetime.strptime(text.strip(), TIME_FORMAT)
    except ValueError:
        return None


def parse_attlog(body: str) -> Parsed:
    """ATTLOG lines: PIN, time, status, verify, work code, reserved… (TAB-separated)."""
    parsed = Parsed()
    for number, line in _capped(parsed, _lines(body)):
        record = _att_record(number, line.split(HT))
        (parsed.records if isinstance(record, AttRecord) else parsed.problems).append(record)
    return parsed


def _att_record(number: int, fields: list[str]):
    if len(fields) < 3:
        return LineProblem(number, LineError.TOO_FEW_FIELDS)
    pin, stamp, status = (f.strip() for f in fields[:3])
    if not PIN_RE.fullmatch(pin):
        return LineProblem(number, LineError.BAD_PIN)
    moment = parse_time(stamp)
    if moment is None:
        return LineProblem(number, LineError.BAD_TIME)
    if status not in AttStatus._value2member_map_:
        return LineProblem(number, LineError.BAD_STATUS)
    extra = [f.strip() for f in fields[3:5]] + ["", ""]
    return AttRecord(number, pin, moment, AttStatus(status), extra[0], extra[1])


def _key_values(text: str) -> dict:
    out = {}
    for part in text.split(HT):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _user_record(number: int, text: str):
    fields = _key_values(text)
    pin = fields.get("PIN", "")
    if not PIN_RE.fullmatch(pin):
        return LineProblem(number, LineError.BAD_PIN)
    return UserRecord(number, pin, fields)


BIOMETRIC_RECORDS = ("FP", "FACE", "BIODATA", "BIOPHOTO", "USERPIC", "FVEIN")


def parse_operlog(body: str) -> Parsed:
    """OPERLOG (and USERINFO) lines: `OPLOG …`, `USER PIN=…`, biometric records; a USERINFO line
    may also come without its `USER ` prefix (`PIN=…\tName=…`)."""
    parsed = Parsed()
    for number, line in _capped(parsed, _lines(body)):
        kind, _sp, rest = line.partition(" ")
        if kind == "USER":
            record = _user_record(number, rest)
        elif line.startswith("PIN="):
            record = _user_record(number, line)
        elif kind == "OPLOG":
            values = tuple(v.strip() for v in rest.split(HT))
            record = OpRecord(number, kind, values) if len(values) >= 3 else LineProblem(
                number, LineError.TOO_FEW_FIELDS)
        elif kind in BIOMETRIC_RECORDS:
            record = OpRecord(number, kind)
        else:
            record = LineProblem(number, LineError.UNKNOWN_RECORD)
        (parsed.problems if isinstance(record, LineProblem) else parsed.records).append(record)
    return parsed


def parse_table(table: str, body: str) -> Optional[Parsed]:
    """The records of a POST to /iclock/cdata; None for a table the platform does not take."""
    if table == Table.ATTLOG:
        return parse_attlog(body)
    if table in (Table.OPERLOG, Table.USERINFO):
        return parse_operlog(body)
    if table == Table.OPTIONS:
        return Parsed()
    return None


def parse_device_replies(body: str) -> tuple[list[CommandReply], list[LineProblem]]:
    """POST /iclock/devicecmd: `ID=<id>&Return=<code>&CMD=<name>` a line."""
    replies, problems = [], []
    for number, line in _lines(body):
        values = dict(parse_qsl(line.strip(), keep_blank_values=True))
        try:
            replies.append(CommandReply(number, int(values["ID"]), int(values["Return"]), values.get("CMD", "")))
        except (KeyError, ValueError):
            problems.append(LineProblem(number, LineError.BAD_REPLY))
    return replies, problems


def device_time_utc(local_time: datetime, tz_hours: int = DEVICE_TZ_HOURS) -> datetime:
    """The device's local time (in the time zone the platform gave it) as naive UTC."""
    return local_time - timedelta(hours=tz_hours)


# --- writing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """The option block of the handshake. Stamps `None`: the platform keeps no stamp, so a device
    re-sends what it holds after a handshake and the resend is counted once (idempotent)."""

    serial: str
    attlog_stamp: str = "None"
    operlog_stamp: str = "None"
    error_delay: int = 30  # seconds before a retry after a failed exchange
    delay: int = 10  # seconds between two getrequest polls
    trans_times: str = "00:00;14:05"  # scheduled uploads (besides real time)
    trans_interval: int = 1  # minutes between uploads of new records
    trans_flag: str = "TransData AttLog\tOpLog\tEnrollUser\tChgUser"  # no photos, no templates
    realtime: int = 1
    encrypt: str = "None"
    time_zone: int = DEVICE_TZ_HOURS


def format_options(opts: Options) -> str:
    """The answer to GET /iclock/cdata?SN=…&options=all. Both the current stamp keys
    (ATTLOGStamp, OPERLOGStamp) and the older firmware's (Stamp, OpStamp) are given."""
    lines = [
        f"GET OPTION FROM: {opts.serial}",
        f"ATTLOGStamp={opts.attlog_stamp}",
        f"OPERLOGStamp={opts.operlog_stamp}",
        f"Stamp={opts.attlog_stamp}",
        f"OpStamp={opts.operlog_stamp}",
        f"ErrorDelay={opts.error_delay}",
        f"Delay={opts.delay}",
        f"TransTimes={opts.trans_times}",
        f"TransInterval={opts.trans_interval}",
        f"TransFlag={opts.trans_flag}",
        f"TimeZone={opts.time_zone}",
        f"Realtime={opts.realtime}",
        f"Encrypt={opts.encrypt}",
    ]
    return LF.join(lines) + LF


def parse_options(text: str) -> tuple[str, dict]:
    """(serial, options) of an option block: what a terminal reads (the simulated one, too)."""
    lines = [line.replace("\r", "") for line in text.split(LF) if line.strip()]
    head = lines[0] if lines else ""
    if not head.startswith("GET OPTION FROM:"):
        raise ValueError("not an option block")
    options = {}
    for line in lines[1:]:
        key, _sep, value = line.partition("=")
        options[key] = value
    return head.partition(":")[2].strip(), options


def answer_ok(count: int) -> str:
    """The answer to an upload: how many lines the platform has taken."""
    return f"OK: {count}"


def _clean(value: str, limit: int) -> str:
    """A field value safe on the wire: no TAB, CR, LF or NUL, at most `limit` characters."""
    return re.sub(r"[\t\r\n\x00]", " ", value or "").strip()[:limit]


def format_user_add(command_id: int, pin: str, name: str) -> str:
    """Add or update a user: PIN, name, ordinary privilege, no password or card, group 1."""
    if not PIN_RE.fullmatch(pin):
        raise ValueError("bad pin")
    fields = [f"PIN={pin}", f"Name={_clean(name, NAME_MAX)}", "Pri=0", "Passwd=", "Card=", "Grp=1", "TZ=0000000000000000"]
    return f"C:{int(command_id)}:DATA USER {HT.join(fields)}"


def format_user_delete(command_id: int, pin: str) -> str:
    if not PIN_RE.fullmatch(pin):
        raise ValueError("bad pin")
    return f"C:{int(command_id)}:DATA DELETE USERINFO PIN={pin}"


def format_commands(command_lines: list[str]) -> str:
    """The answer to GET /iclock/getrequest: the commands, or OK when none is queued."""
    return LF.join(command_lines) + LF if command_lines else ANSWER_OK


COMMAND_RE = re.compile(r"C:(?P<id>[0-9]+):(?P<body>.*)")


def parse_command(line: str) -> Optional[tuple[int, str]]:
    """(id, command) of a `C:<id>:<command>` line (what a terminal reads); None otherwise."""
    found = COMMAND_RE.fullmatch(line.replace("\r", ""))
    return (int(found["id"]), found["body"]) if found else None


def format_reply(command_id: int, return_code: int, cmd: str = "DATA") -> str:
    """One line of a device's POST /iclock/devicecmd (the simulated terminal writes these)."""
    return f"ID={int(command_id)}&Return={int(return_code)}&CMD={cmd}"


def format_attlog_line(pin: str, local_time: datetime, status: str = AttStatus.CHECK_IN, verify: str = "15",
                       work_code: str = "0") -> str:
    """One ATTLOG line as a terminal writes it (face verify by default)."""
    return HT.join([pin, local_time.strftime(TIME_FORMAT), str(status), verify, work_code, "0", "0"])
