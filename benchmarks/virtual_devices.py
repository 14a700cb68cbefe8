"""A private PC/SC stack for development, tests and `shiming bench face` -- never for production.

`Pcscd`: a real pcscd with the vsmartcard vpcd reader driver.
pcscd runs in the foreground with its own reader.conf.d folder (`-c`) holding one vpcd reader
whose DEVICENAME `/dev/null:<port>` makes vpcd listen on <port> (slot 0, reader "<name> 00 00")
and <port>+1 (slot 1, "<name> 00 01"). vpcd listens on ALL interfaces (its bind address cannot be
set): anyone on the network can insert a card into that reader, so this runs on a development or
bench machine only (docs/devices.md, "Tests: the real PC/SC stack"). pcscd's client socket is fixed
at /run/pcscd/pcscd.comm, so only one pcscd runs on a machine: `start` refuses to start beside another one.

`VirtualCard` and its subclasses: virtual smart cards for vpcd, the card being a TCP client of vpcd.
The vpcd socket protocol: every frame is a 2-byte big-endian length and its payload. A 1-byte
payload from vpcd is a control frame (0x00 power off, 0x01 power on, 0x02 reset, 0x04 get ATR:
answered with the ATR); anything longer is a command APDU, answered with the response APDU.
Connecting is inserting the card, closing the socket is removing it.

Debian's vpcd writes the length and the payload in two sends, so without TCP_QUICKACK on this
side every APDU waits ~40 ms for the delayed ACK; Linux clears the flag again, so it is set after
every recv.
"""
from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devices.id_card_reader import IDENTITY_FILE_ID
from domain import usb_key

RUN_DIR = Path("/run/pcscd")
SOCKET = RUN_DIR / "pcscd.comm"
PID_FILE = RUN_DIR / "pcscd.pid"
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
READER = "Shiming Test PCD"
SLOT_0, SLOT_1 = f"{READER} 00 00", f"{READER} 00 01"


class PcscdError(RuntimeError):
    pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped) is not a running pcscd
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def other_pcscd() -> Optional[int]:
    """The pid of a running pcscd (-1 when only its socket answers), or None."""
    try:
        pid = int(PID_FILE.read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None and _pid_alive(pid):
        return pid
    for comm in Path("/proc").glob("[0-9]*/comm"):  # a foreground pcscd writes no pid file
        try:
            if comm.read_text().strip() == "pcscd" and _pid_alive(int(comm.parent.name)):
                return int(comm.parent.name)
        except (OSError, ValueError):
            continue
    if SOCKET.exists():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(SOCKET))
            return -1  # someone answers, pid unknown
        except OSError:
            return None
        finally:
            probe.close()
    return None


def free_port_pair() -> int:
    """A port p such that p and p+1 are both free on all interfaces (vpcd binds 0.0.0.0)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("", port))
                b.bind(("", port + 1))
        except OSError:
            continue
        return port
    raise PcscdError("no free port pair for vpcd")


class Pcscd:
    """pcscd in the foreground with one vpcd reader (two slots) on `port`, `port`+1."""

    def __init__(self, home: Path, port: int):
        self.home, self.port = home, port
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = home / "pcscd.log"

    def start(self, timeout: float = 20) -> "Pcscd":
        pcscd = shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None)
        if pcscd is None or not VPCD_DRIVER.exists():
            raise PcscdError("pcscd and the vpcd driver are required: apt-get install pcscd vsmartcard-vpcd "
                             "(scripts/test installs them)")
        other = other_pcscd()
        if other is not None:
            raise PcscdError(f"another pcscd ({'pid ' + str(other) if other > 0 else 'unknown pid'}) holds "
                             f"{SOCKET}; stop it (systemctl stop pcscd.socket pcscd) before running these tests")
        conf = self.home / "reader.conf.d"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "vpcd").write_text(
            f'FRIENDLYNAME "{READER}"\n'
            f"DEVICENAME   /dev/null:{self.port}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    {self.port}\n")
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen([pcscd, "--foreground", "--config", str(conf), "--apdu", "--debug"],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PcscdError(f"pcscd exited with {self.proc.returncode}: {self.log_tail()}")
            if SOCKET.exists() and self._listening():
                return self
            time.sleep(0.05)
        self.stop()
        raise PcscdError(f"pcscd did not come up in {timeout} s: {self.log_tail()}")

    @staticmethod
    def _listening() -> bool:
        from smartcard import scard

        hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            return False
        try:
            hresult, names = scard.SCardListReaders(ctx, [])
            return hresult == scard.SCARD_S_SUCCESS and SLOT_0 in names and SLOT_1 in names
        finally:
            scard.SCardReleaseContext(ctx)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def wait_card_state(reader: str, present: bool, timeout: float = 10) -> None:
    """Wait until PC/SC reports a card on `reader` (present) or none (not present)."""
    from smartcard import scard

    hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise PcscdError(f"no PC/SC context: {scard.SCardGetErrorMessage(hresult)}")
    try:
        deadline = time.monotonic() + timeout
        states = [(reader, scard.SCARD_STATE_UNAWARE)]
        while time.monotonic() < deadline:
            hresult, states = scard.SCardGetStatusChange(ctx, 200, states)
            if hresult not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT):
                raise PcscdError(f"reader state of {reader}: {scard.SCardGetErrorMessage(hresult)}")
            _name, state, _atr = states[0]
            if bool(state & scard.SCARD_STATE_PRESENT) == present:
                return
            states = [(reader, state & ~scard.SCARD_STATE_CHANGED)]
        raise PcscdError(f"card on {reader} not {'present' if present else 'absent'} after {timeout} s")
    finally:
        scard.SCardReleaseContext(ctx)


# ---- virtual cards ---------------------------------------------------------------------------

ATR = bytes.fromhex("3B80800101")  # T=0 and T=1, no historical bytes

POWER_OFF, POWER_ON, RESET, GET_ATR = 0x00, 0x01, 0x02, 0x04

SW_OK = b"\x90\x00"
SW_END_OF_FILE = b"\x62\x82"
SW_WRONG_LENGTH = b"\x67\x00"
SW_CONDITIONS = b"\x69\x85"
SW_FILE_NOT_FOUND = b"\x6A\x82"
SW_WRONG_P1P2 = b"\x6B\x00"
SW_INS_NOT_SUPPORTED = b"\x6D\x00"
SW_CLA_NOT_SUPPORTED = b"\x6E\x00"


class VirtualCard:
    """A card on one vpcd slot. Subclasses answer APDUs in `respond`."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.host, self.port = host, port
        self.apdus: list[bytes] = []
        self._sock: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._remove_when: Optional[Callable[[bytes], bool]] = None
        self.pulled_mid_exchange = False

    # ---- insertion and removal -------------------------------------------------------------

    def insert(self) -> "VirtualCard":
        sock = socket.create_connection((self.host, self.port), timeout=10)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self._thread.start()
        return self

    def remove(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    def remove_on(self, condition: Callable[[bytes], bool]) -> None:
        """Pull the card out (no answer) when a command APDU matches `condition`."""
        self._remove_when = condition

    def __enter__(self) -> "VirtualCard":
        return self.insert()

    def __exit__(self, *exc) -> None:
        self.remove()

    # ---- the socket protocol ---------------------------------------------------------------

    @staticmethod
    def _recv_exact(sock: socket.socket, n: int) -> Optional[bytes]:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            if not chunk:
                return None
            buf += chunk
        return buf

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                header = self._recv_exact(sock, 2)
                if header is None:
                    return
                payload = self._recv_exact(sock, struct.unpack(">H", header)[0])
                if payload is None:
                    return
                if len(payload) == 1:
                    reply = self._control(payload[0])
                else:
                    self.apdus.append(payload)
                    if self._remove_when is not None and self._remove_when(payload):
                        self._remove_when = None
                        self.pulled_mid_exchange = True
                        threading.Thread(target=self.remove, daemon=True).start()
                        return
                    reply = self.respond(payload)
                if reply is not None:
                    sock.sendall(struct.pack(">H", len(reply)) + reply)
        except OSError:
            return  # removed

    def _control(self, code: int) -> Optional[bytes]:
        if code in (POWER_ON, RESET):
            self.reset()
        return ATR if code == GET_ATR else None

    def reset(self) -> None:
        """Power on or reset: forget the selection."""

    def respond(self, apdu: bytes) -> bytes:
        return SW_INS_NOT_SUPPORTED


class VirtualIdCard(VirtualCard):
    """A card holding the identity text block in EF 0101 (SELECT by file id, READ BINARY)."""

    def __init__(self, port: int, block: bytes, **kw):
        super().__init__(port, **kw)
        self.files = {IDENTITY_FILE_ID: block}
        self._selected: Optional[int] = None

    def reset(self) -> None:
        self._selected = None

    def respond(self, apdu: bytes) -> bytes:
        cla, ins, p1, p2 = apdu[:4]
        if cla != 0x00:
            return SW_CLA_NOT_SUPPORTED
        if ins == 0xA4:
            if p1 != 0x00 or len(apdu) < 7 or apdu[4] != 2:
                return SW_WRONG_P1P2
            fid = int.from_bytes(apdu[5:7], "big")
            if fid not in self.files:
                return SW_FILE_NOT_FOUND
            self._selected = fid
            return SW_OK
        if ins == 0xB0:
            if self._selected is None:
                return SW_CONDITIONS
            data = self.files[self._selected]
            offset = (p1 << 8) | p2
            le = (apdu[4] or 256) if len(apdu) == 5 else None
            if le is None:
                return SW_WRONG_LENGTH
            if offset > len(data):
                return SW_WRONG_P1P2
            chunk = data[offset:offset + le]
            return chunk + (SW_OK if len(chunk) == le else SW_END_OF_FILE)
        return SW_INS_NOT_SUPPORTED


class VirtualUsbKey(VirtualCard):
    """The USB-key applet of domain/usb_key.py around an Ed25519 private key."""

    def __init__(self, port: int, private_key: Ed25519PrivateKey, **kw):
        super().__init__(port, **kw)
        self.private_key = private_key
        self._selected = False

    def public_key_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def reset(self) -> None:
        self._selected = False

    def respond(self, apdu: bytes) -> bytes:
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[5:5 + apdu[4]] if len(apdu) > 5 else b""
        if cla == 0x00 and ins == 0xA4 and p1 == 0x04:
            self._selected = body == usb_key.AID
            return SW_OK if self._selected else SW_FILE_NOT_FOUND
        if cla != usb_key.CLA:
            return SW_CLA_NOT_SUPPORTED
        if not self._selected:
            return SW_CONDITIONS
        if ins == usb_key.INS_GET_PUBLIC_KEY:
            return self.public_key_bytes() + SW_OK
        if ins == usb_key.INS_SIGN:
            if not usb_key.CHALLENGE_MIN <= len(body) <= usb_key.CHALLENGE_MAX:
                return SW_WRONG_LENGTH
            return self.private_key.sign(usb_key.signed_message(body)) + SW_OK
        return SW_INS_NOT_SUPPORTED
