"""A simulated ZKTeco face terminal speaking the PUSH protocol byte for byte over a real socket.

Each exchange is one HTTP/1.1 request written by hand as the terminals write it (request line,
`Host`, `User-Agent: iClock Proxy/1.09`, `Connection: close`, `Content-Length` on a POST, then the
body) on a fresh TCP connection; the answer is read to the end and split into status, headers and
body. The terminal keeps what a real one keeps: its records (resent until the server answers
`OK: …`), its user table (changed by the commands it polls), and the results it owes.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional
from urllib.parse import urlsplit

from domain.processes import zkteco as zk
from domain.processes.attendance import DeviceProtocol

USER_AGENT = "iClock Proxy/1.09"


@dataclass
class Answer:
    status: int
    headers: dict
    body: str


@dataclass
class ZkTerminal:
    base_url: str  # http://127.0.0.1:<port>
    serial: str
    pushver: str = "2.4.1"
    options: dict = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)  # ATTLOG lines not yet acknowledged
    users: dict = field(default_factory=dict)  # PIN -> name, as the commands left them
    executed: list[tuple[int, str]] = field(default_factory=list)
    fail_prefix: str = ""  # commands starting so are not carried out and answered with -1002
    fail_commands: set = field(default_factory=set)
    sent_requests: list[bytes] = field(default_factory=list)

    # --- the wire --------------------------------------------------------------------------------

    def raw(self, method: str, target: str, body: bytes = b"") -> Answer:
        url = urlsplit(self.base_url)
        head = [f"{method} {target} HTTP/1.1", f"Host: {url.hostname}:{url.port}", f"User-Agent: {USER_AGENT}",
                "Accept: */*", "Connection: close"]
        if method == "POST":
            head += [f"Content-Length: {len(body)}"]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body
        self.sent_requests.append(request)
        with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
            sock.sendall(request)
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return _parse_answer(b"".join(chunks))

    # --- the exchanges ---------------------------------------------------------------------------

    def handshake(self) -> Answer:
        answer = self.raw("GET", f"/iclock/cdata?SN={self.serial}&options=all&pushver={self.pushver}&language=83")
        if answer.status == 200:
            serial, self.options = zk.parse_options(answer.body)
            assert serial == self.serial, serial
        return answer

    def punch(self, pin: str, local_time: datetime, status: str = zk.AttStatus.CHECK_IN) -> None:
        self.pending.append(zk.format_attlog_line(pin, local_time, status))

    def upload(self, extra_lines: tuple[str, ...] = (), crlf: bool = False) -> Answer:
        """POST the pending lines (and `extra_lines`, raw); they stay pending unless answered OK."""
        lines = self.pending + list(extra_lines)
        newline = "\r\n" if crlf else "\n"
        body = (newline.join(lines) + newline).encode("utf-8")
        answer = self.post_table(zk.Table.ATTLOG, body)
        if answer.status == 200 and answer.body.startswith("OK"):
            self.pending = []
        return answer

    def post_table(self, table: str, body: bytes, stamp: str = "9999") -> Answer:
        return self.raw("POST", f"/iclock/cdata?SN={self.serial}&table={table}&Stamp={stamp}", body)

    def poll(self) -> list[tuple[int, str]]:
        """GET /iclock/getrequest; carries out each command on its user table."""
        answer = self.raw("GET", f"/iclock/getrequest?SN={self.serial}")
        assert answer.status == 200, (answer.status, answer.body)
        commands = [c for c in (zk.parse_command(line) for line in answer.body.split("\n")) if c]
        for command_id, text in commands:
            if self.fail_prefix and text.startswith(self.fail_prefix):
                self.fail_commands.add(command_id)
            else:
                self._apply(text)
            self.executed.append((command_id, text))
        return commands

    def _apply(self, text: str) -> None:
        if text.startswith("DATA USER "):
            fields = dict(part.partition("=")[::2] for part in text[len("DATA USER "):].split("\t"))
            self.users[fields["PIN"]] = fields.get("Name", "")
        elif text.startswith("DATA DELETE USERINFO PIN="):
            self.users.pop(text.rpartition("=")[2], None)

    def report(self) -> Optional[Answer]:
        """POST /iclock/devicecmd with the results of the commands carried out since the last report."""
        if not self.executed:
            return None
        lines = [zk.format_reply(cid, -1002 if cid in self.fail_commands else 0) for cid, _text in self.executed]
        answer = self.raw("POST", f"/iclock/devicecmd?SN={self.serial}", ("\n".join(lines) + "\n").encode())
        if answer.status == 200:
            self.executed = []
        return answer


def _parse_answer(data: bytes) -> Answer:
    head, _sep, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        key, _c, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = body[:int(headers["content-length"])]
    return Answer(status, headers, body.decode("utf-8", errors="replace"))



def register_terminal(services, project_id: int, serial: str, *, sources: str = "", protocol: str = DeviceProtocol.ZKTECO,
                      revoked: bool = False) -> None:
    """Register a terminal as the project's devices page does (domain/attendance_devices), by the project account."""
    from sqlalchemy import select

    from domain import attendance_devices as devices
    from domain.models import Account
    from domain.processes.attendance import DeviceKind

    with services.Session.begin() as session:
        account = session.scalar(select(Account).where(Account.username == "project"))
        actor = devices.Actor(account.id, account.display_name, "127.0.0.1")
        device, _secret = devices.register_device(session, services.cipher, actor, project_id=project_id,
                                                  serial=serial, kind=DeviceKind.TERMINAL, protocol=protocol,
                                                  allowed_sources=sources)
        if revoked:
            devices.revoke_device(session, actor, device)


def admitted_site(services, workers: int = 3, serial: str = "CGXH201260001") -> tuple[int, list[int], str]:
    """The demo project with `workers` admitted workers of its own (no punches, nothing owed: they
    may leave at once) and one ZKTeco terminal taking requests from loopback; returns (project id,
    engagement ids, serial). The grants and `admitted_at` are written as enrolment's `admit` writes
    them (the enrolment itself is tested in tests/workflows)."""
    import random
    from datetime import date

    from sqlalchemy import select

    from domain import workforce as wf
    from domain.models import CompanyKind, Project, SiteAccessGrant, utcnow
    from shiming.seed_workforce import generate_id_number

    rng = random.Random("zk-terminal-site")
    with services.Session.begin() as session:
        project = session.scalars(select(Project).order_by(Project.id)).first()
        company = wf.ensure_company(session, project.id, project.contractor_name, project.contractor_credit_code,
                                    CompanyKind.CONTRACTOR)
        team = wf.ensure_team(session, project.id, company.id, "钢筋班")
        ids = []
        for n in range(workers):
            worker = wf.upsert_worker(session, services.cipher, name=f"测试工人{n + 1}",
                                      id_number=generate_id_number(rng, birth=date(1980 + n, 5, 1)))
            pw = wf.enrol(session, project_id=project.id, worker=worker, team=team, company=company, trade="010",
                          daily_rate_fen=35_000, entry_date=date(2026, 11, 2))
            pw.admitted_at = utcnow()
            session.flush()
            session.add(SiteAccessGrant(project_id=project.id, worker_id=worker.id, project_worker_id=pw.id,
                                        issued_at=utcnow()))
            ids.append(pw.id)
        project_id = project.id
    register_terminal(services, project_id, serial, sources="127.0.0.0/8")
    return project_id, ids, serial
