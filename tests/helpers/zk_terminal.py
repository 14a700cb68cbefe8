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
    fail_commands: set = field(default_factory=set)  # command ids this terminal answers with -1002
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
            if command_id not in self.fail_commands:
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
