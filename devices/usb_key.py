"""The enterprise USB key over PC/SC (ACC-3): read its public key, have it sign a login challenge.

The applet and its APDUs are defined in `domain.usb_key` (and docs/devices.md). Blocking calls;
the device agent runs them on a worker thread.
"""
from __future__ import annotations

from typing import Optional, Protocol, runtime_checkable

from domain.usb_key import (
    AID,
    CLA,
    INS_GET_PUBLIC_KEY,
    INS_SIGN,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    UsbKeyError,
    UsbKeyRefusal,
    check_challenge,
)

from .pcsc import Channel, PcscFailure, channels

SW_WRONG_LENGTH = 0x6700

_FAILURES = {
    "no_reader": UsbKeyRefusal.NO_READER,
    "reader_not_found": UsbKeyRefusal.READER_NOT_FOUND,
    "no_card": UsbKeyRefusal.NO_CARD,
    "card_removed": UsbKeyRefusal.CARD_REMOVED,
    "failed": UsbKeyRefusal.KEY_FAILED,
}


def select_apdu() -> bytes:
    return bytes([0x00, 0xA4, 0x04, 0x00, len(AID)]) + AID


def get_public_key_apdu() -> bytes:
    return bytes([CLA, INS_GET_PUBLIC_KEY, 0x00, 0x00, 0x00])


def sign_apdu(challenge: bytes) -> bytes:
    challenge = check_challenge(challenge)
    return bytes([CLA, INS_SIGN, 0x00, 0x00, len(challenge)]) + challenge + b"\x00"


@runtime_checkable
class UsbKey(Protocol):
    def public_key(self) -> bytes: ...

    def sign(self, challenge: bytes) -> bytes: ...


class PcscUsbKey:
    """The USB key on `reader_name` (None: the first reader with a card that has the applet)."""

    def __init__(self, reader_name: Optional[str] = None):
        self.reader_name = reader_name

    def public_key(self) -> bytes:
        """The key's raw 32-byte Ed25519 public key."""
        data = self._run(lambda ch: self._command(ch, get_public_key_apdu()))
        if len(data) != PUBLIC_KEY_SIZE:
            raise UsbKeyError(UsbKeyRefusal.BAD_RESPONSE, f"public key of {len(data)} bytes")
        return data

    def sign(self, challenge: bytes) -> bytes:
        """The key's 64-byte signature of `domain.usb_key.signed_message(challenge)`."""
        apdu = sign_apdu(challenge)
        data = self._run(lambda ch: self._command(ch, apdu))
        if len(data) != SIGNATURE_SIZE:
            raise UsbKeyError(UsbKeyRefusal.BAD_RESPONSE, f"signature of {len(data)} bytes")
        return data

    def _run(self, action):
        try:
            other_card = None
            for channel in channels(self.reader_name):
                with channel:
                    try:
                        self._select(channel)
                    except UsbKeyError as exc:
                        other_card = exc  # maybe the ID card: try the next reader
                        continue
                    return action(channel)
            if other_card is not None:
                raise other_card
            raise PcscFailure("no_card")
        except PcscFailure as failure:
            raise UsbKeyError(_FAILURES[failure.kind], failure.detail) from None

    @staticmethod
    def _select(channel: Channel) -> None:
        r = channel.transmit(select_apdu())
        if not r.ok:
            raise UsbKeyError(UsbKeyRefusal.NOT_A_USB_KEY, f"SELECT answered {r.sw:04X}")

    @staticmethod
    def _command(channel: Channel, apdu: bytes) -> bytes:
        r = channel.transmit(apdu)
        if r.sw == SW_WRONG_LENGTH:
            raise UsbKeyError(UsbKeyRefusal.BAD_CHALLENGE)
        if not r.ok:
            raise UsbKeyError(UsbKeyRefusal.KEY_FAILED, f"the card answered {r.sw:04X}")
        return r.data
