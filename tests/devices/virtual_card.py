"""Virtual smart cards for the vsmartcard vpcd reader driver: the card is a TCP client of vpcd.

The vpcd socket protocol: every frame is a 2-byte big-endian length and its payload. A 1-byte
payload from vpcd is a control frame (0x00 power off, 0x01 power on, 0x02 reset, 0x04 get ATR:
answered with the ATR); anything longer is a command APDU, answered with the response APDU.
Connecting is inserting the card, closing the socket is removing it.

Debian's vpcd writes the length and the payload in two sends, so without TCP_QUICKACK on this
side every APDU waits ~40 ms for the delayed ACK; Linux clears the flag again, so it is set after
every recv.
"""
from __future__ import annotations

import socket
import struct
import threading
from typing import Callable, Optional

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devices.id_card_reader import IDENTITY_FILE_ID
from domain import usb_key

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
