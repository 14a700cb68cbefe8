"""Canonical JSON and detached Ed25519 signatures over it, shared by every signed bank document.

A signed document is a JSON object with a `signature` member. The signature is Ed25519 over
`domain + canonical_json(document without "signature")`, where `domain` names the kind of document
(`SHIMING-WAGE-FILE-V1\\n`, `SHIMING-STATEMENT-V1\\n` …) so a signature over one kind can never be
passed off as another. Canonical JSON is RFC 8785 (JCS) for the values these documents hold:
keys sorted, no insignificant whitespace, UTF-8, integers only.
"""
from __future__ import annotations

import base64
import binascii
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SIGNATURE_FIELD = "signature"


def canonical_json(obj) -> bytes:
    """RFC 8785 form for objects of strings, integers, booleans, lists and objects (no floats)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict standard base64 (with padding); raises ValueError on anything else."""
    if not isinstance(text, str):
        raise ValueError("not a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("bad base64") from exc


def public_hex(key: Ed25519PublicKey | X25519PublicKey) -> str:
    """The raw 32-byte public key in lower-case hex: the key's id on the wire."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def ed25519_public_from_hex(text: str) -> Ed25519PublicKey:
    raw = _raw32(text)
    return Ed25519PublicKey.from_public_bytes(raw)


def x25519_public_from_hex(text: str) -> X25519PublicKey:
    raw = _raw32(text)
    return X25519PublicKey.from_public_bytes(raw)


def _raw32(text: str) -> bytes:
    if not isinstance(text, str) or len(text) != 64:
        raise ValueError("a public key is 64 hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError("a public key is 64 hex digits") from None


def signing_input(domain: bytes, document: dict) -> bytes:
    unsigned = {k: v for k, v in document.items() if k != SIGNATURE_FIELD}
    return domain + canonical_json(unsigned)


def sign_document(document: dict, key: Ed25519PrivateKey, domain: bytes) -> dict:
    """A copy of `document` with `signer` (the public key, hex) and `signature` (base64) added."""
    signed = dict(document)
    signed.pop(SIGNATURE_FIELD, None)
    signed["signer"] = public_hex(key.public_key())
    signed[SIGNATURE_FIELD] = b64encode(key.sign(signing_input(domain, signed)))
    return signed


def verify_document(document: dict, key: Ed25519PublicKey, domain: bytes) -> bool:
    """True when `document` carries a valid signature by `key` (its `signer` must name that key)."""
    if not isinstance(document, dict) or document.get("signer") != public_hex(key):
        return False
    try:
        signature = b64decode(document.get(SIGNATURE_FIELD))
        key.verify(signature, signing_input(domain, document))
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
