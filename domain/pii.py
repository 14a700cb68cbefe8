"""PII protection: authenticated encryption at rest and a keyed hash for exact look-ups.

Values are encrypted with AES-256-GCM under a key from configuration; the stored form is
`v1:` + base64(nonce || ciphertext+tag). A separate HMAC-SHA256 key gives a deterministic
look-up hash, so a phone number can be matched without decrypting every row.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1:"


class PiiCipher:
    def __init__(self, master_key: bytes):
        if len(master_key) < 32:
            raise ValueError("PII master key must be at least 32 bytes")
        self._enc_key = hashlib.sha256(b"shiming-pii-enc" + master_key).digest()
        self._mac_key = hashlib.sha256(b"shiming-pii-mac" + master_key).digest()
        self._aead = AESGCM(self._enc_key)

    def encrypt(self, plaintext: str, context: str = "") -> str:
        nonce = os.urandom(12)
        ct = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return _PREFIX + base64.b64encode(nonce + ct).decode("ascii")

    def decrypt(self, token: str, context: str = "") -> str:
        if not token.startswith(_PREFIX):
            raise ValueError("unknown PII ciphertext version")
        raw = base64.b64decode(token[len(_PREFIX):])
        return self._aead.decrypt(raw[:12], raw[12:], context.encode("utf-8")).decode("utf-8")

    def lookup_hash(self, value: str, kind: str) -> str:
        return hmac.new(self._mac_key, f"{kind}:{value}".encode("utf-8"), hashlib.sha256).hexdigest()
