"""The enterprise USB key (ACC-3): its card applet's APDUs, refusal codes and signature check.

Pure: no I/O. `devices.usb_key` talks to the card; the server (`domain.usb_key_login`,
web/auth) verifies a login with `verify_login_signature` against the public key registered to
the enterprise account, and refuses with `KeyLoginRefusal` codes.

The applet (docs/devices.md, "USB key"), Ed25519 only:

    SELECT by AID      00 A4 04 00 09 F0 73 68 69 6D 69 6E 67 01     9000 | 6A82 not a shiming key
    GET PUBLIC KEY     80 10 00 00 00                                 32-byte raw public key 9000
    SIGN challenge     80 20 00 00 Lc <challenge> 00                  64-byte signature 9000 | 6700

The card never signs the challenge bytes as given: it signs `signed_message(challenge)`, the
challenge behind a fixed context prefix, so the key cannot be used to sign anything that is not
a shiming login challenge. Challenges are 16–128 bytes (the server sends 32 random bytes).
"""
from __future__ import annotations

from enum import StrEnum

from .errors import CodedError

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

AID = bytes.fromhex("F07368696D696E6701")  # F0 (proprietary) + "shiming" + applet version 1
CLA = 0x80
INS_GET_PUBLIC_KEY = 0x10
INS_SIGN = 0x20
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
CHALLENGE_MIN, CHALLENGE_MAX = 16, 128
CONTEXT = b"shiming usb-key login v1\x00"


class UsbKeyRefusal(StrEnum):
    NO_READER = "no_reader"
    READER_NOT_FOUND = "reader_not_found"
    NO_CARD = "no_card"
    CARD_REMOVED = "card_removed"
    NOT_A_USB_KEY = "not_a_usb_key"
    BAD_CHALLENGE = "bad_challenge"
    BAD_RESPONSE = "bad_response"
    KEY_FAILED = "key_failed"


MESSAGES: dict[UsbKeyRefusal, str] = {
    UsbKeyRefusal.NO_READER: "No USB key is connected; plug in the enterprise USB key and try again.",
    UsbKeyRefusal.READER_NOT_FOUND: "The USB key reader {detail} is not connected.",
    UsbKeyRefusal.NO_CARD: "No USB key is connected; plug in the enterprise USB key and try again.",
    UsbKeyRefusal.CARD_REMOVED: "The USB key was removed while it was in use; plug it in and try again.",
    UsbKeyRefusal.NOT_A_USB_KEY: "The connected card or key is not a shiming enterprise USB key.",
    UsbKeyRefusal.BAD_CHALLENGE: "The login challenge must be 16 to 128 bytes.",
    UsbKeyRefusal.BAD_RESPONSE: "The USB key gave a malformed answer ({detail}).",
    UsbKeyRefusal.KEY_FAILED: "The USB key refused the operation ({detail}).",
}


class KeyLoginRefusal(StrEnum):
    """Why the server refuses a USB-key login or key registration (the web translates by code)."""

    CHALLENGE_UNKNOWN = "challenge_unknown"  # never issued, or issued to another session / purpose
    CHALLENGE_EXPIRED = "challenge_expired"
    CHALLENGE_USED = "challenge_used"  # a replay
    BAD_SIGNATURE = "bad_signature"  # wrong key, unknown user, no key registered (one answer for all)
    KEY_TAKEN = "key_taken"  # registration: the key belongs to another account
    LOCKED = "locked"
    INACTIVE = "inactive"


class UsbKeyError(CodedError):
    """A refused USB-key operation; `code` is a `UsbKeyRefusal`, `message` English for the translator."""

    def __init__(self, code: UsbKeyRefusal, detail: str = ""):
        code = UsbKeyRefusal(code)
        self.message = MESSAGES[code].format(detail=detail)
        super().__init__(code, detail, message=f"{code}: {self.message}")


def check_challenge(challenge: bytes) -> bytes:
    if not isinstance(challenge, (bytes, bytearray)) or not CHALLENGE_MIN <= len(challenge) <= CHALLENGE_MAX:
        raise UsbKeyError(UsbKeyRefusal.BAD_CHALLENGE)
    return bytes(challenge)


def signed_message(challenge: bytes) -> bytes:
    """What the card signs for a challenge."""
    return CONTEXT + check_challenge(challenge)


def verify_login_signature(public_key: bytes, challenge: bytes, signature: bytes) -> bool:
    """Whether `signature` is the key's signature of `challenge` (False for any malformed input)."""
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes(public_key))
        key.verify(bytes(signature), signed_message(challenge))
        return True
    except (InvalidSignature, ValueError, TypeError, UsbKeyError):
        return False
