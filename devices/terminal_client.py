"""The terminal's side of the platform's signed attendance API (docs/attendance-api.yaml).

Every request is signed as the contract says (domain.processes.attendance.signed_headers: HMAC-SHA256
of timestamp, nonce, method, path and the body's sha256, under the device secret), with a fresh
nonce each time. `templates(since)` fetches the project's templates envelope (domain/device_templates.py);
`upload(punches)` posts one batch and returns the platform's per-item results.

A platform that cannot be reached (connection refused, timeout, a 5xx from the proxy) raises
`PlatformUnavailable`: the caller keeps its punches queued and tries again later. A whole-request
refusal (4xx with the API's {"code", "message"}) raises `PlatformRefused`: a revoked device, a wrong
secret or a clock outside the ±300 s window; retrying will not help until the operator acts.
"""
from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.error
import urllib.request
from typing import Callable, Optional, Sequence
from urllib.parse import urlencode, urlsplit

from devices.terminal_queue import QueuedPunch
from domain.processes.attendance import API_PREFIX, PunchChannel, signed_headers


class PlatformUnavailable(Exception):
    """The platform did not answer (or answered with a server error): try again later."""


class PlatformRefused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def punch_body(serial: str, punches: Sequence[QueuedPunch]) -> dict:
    """A signed batch of the platform's own terminal: its punches keep the channel `terminal`."""
    return {"channel": PunchChannel.TERMINAL.value, "punches": [{
        "device": serial, "seq": p.seq, "worker_id": p.worker_id, "time": p.time, "direction": p.direction,
        "match_score": p.match_score,
        "photo": base64.b64encode(p.photo).decode("ascii") if p.photo is not None else None,
        "photo_sha256": p.photo_sha256,
    } for p in punches]}


class PlatformClient:
    def __init__(self, base_url: str, serial: str, secret_hex: str, timeout: float = 10.0,
                 clock: Callable[[], float] = time.time):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the platform URL must be http(s)://host[:port], not {base_url!r}")
        self._base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self._prefix = parts.path.rstrip("/")
        self.serial, self.secret_hex, self._timeout, self._clock = serial, secret_hex, timeout, clock

    def templates(self, since: Optional[str] = None) -> dict:
        return self._request("GET", "/templates", query={"since": since} if since else None)

    def upload(self, punches: Sequence[QueuedPunch]) -> dict:
        return self._request("POST", "/punches", body=punch_body(self.serial, punches))

    def _request(self, method: str, endpoint: str, body: Optional[dict] = None, query: Optional[dict] = None) -> dict:
        path = f"{self._prefix}{API_PREFIX}{endpoint}"
        data = json.dumps(body, separators=(",", ":")).encode("utf-8") if body is not None else b""
        headers = signed_headers(self.serial, self.secret_hex, method, path, data, timestamp=int(self._clock()),
                                 nonce=secrets.token_urlsafe(24))
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = f"{self._base}{API_PREFIX}{endpoint}" + (f"?{urlencode(query)}" if query else "")
        request = urllib.request.Request(url, data=data if body is not None else None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise self._refusal(exc) from None
        except (urllib.error.URLError, OSError) as exc:   # refused, reset, timed out, no route
            raise PlatformUnavailable(str(getattr(exc, "reason", exc))) from None
        except ValueError as exc:                          # a 200 that is not JSON: a proxy's page
            raise PlatformUnavailable(f"not a JSON answer ({exc})") from None

    @staticmethod
    def _refusal(exc: urllib.error.HTTPError) -> Exception:
        if exc.code >= 500 or exc.code in (404, 408, 429):
            return PlatformUnavailable(f"HTTP {exc.code}")
        try:
            answer = json.loads(exc.read())
            return PlatformRefused(exc.code, str(answer.get("code", "")), str(answer.get("message", "")))
        except (ValueError, AttributeError):
            return PlatformRefused(exc.code, "", f"HTTP {exc.code}")
