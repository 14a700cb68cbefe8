"""A real pcscd with the vsmartcard vpcd reader driver, for PC/SC tests.

pcscd runs in the foreground with its own reader.conf.d folder (`-c`) holding one vpcd reader
whose DEVICENAME `/dev/null:<port>` makes vpcd listen on <port> (slot 0, reader "<name> 00 00")
and <port>+1 (slot 1, "<name> 00 01"). pcscd's client socket is fixed at /run/pcscd/pcscd.comm,
so only one pcscd runs on a machine: the fixture refuses to start beside another one.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

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
