"""Signing keys: an Ed25519 private key sealed under the security password, and the key look-ups.

scrypt turns the password into a 32-byte key, AES-256-GCM encrypts the raw private key with the
account and public key as associated data (docs/signing.md, "Sealing").
"""
from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Optional, Union

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import SigningKey

# scrypt cost: n=2**15, r=8, p=1 needs 32 MiB and takes about 120 ms on the 2-core machine class.
# The parameters are stored with every sealed key, so raising them later leaves old keys readable.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_SCRYPT_MAX_N = 2**20  # refuse sealed blobs that would make unsealing a memory bomb

SEALED_VERSION = 1
# what a retired key's sealed private half becomes
DESTROYED_SEAL = json.dumps({"v": SEALED_VERSION, "destroyed": True}, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class UnlockedKey:
    """A private key unlocked by the security password. Keep it only for the request that needs it."""

    key_id: int
    account_id: int
    public_key_hex: str
    private_key: Ed25519PrivateKey = field(repr=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _aad(account_id: int, public_key_hex: str) -> bytes:
    return f"signing-key:{account_id}:{public_key_hex}".encode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode("utf-8"))


def _raw_private(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def public_key_hex(key: Union[Ed25519PrivateKey, Ed25519PublicKey]) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def seal_private_key(private_key: Ed25519PrivateKey, password: str, account_id: int) -> str:
    """The JSON stored in `SigningKey.sealed_private_key`."""
    salt, nonce = os.urandom(16), os.urandom(12)
    kek = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    ct = AESGCM(kek).encrypt(nonce, _raw_private(private_key), _aad(account_id, public_key_hex(private_key)))
    return json.dumps(
        {
            "v": SEALED_VERSION, "kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
            "aead": "aes-256-gcm", "salt": _b64(salt), "nonce": _b64(nonce), "ct": _b64(ct),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def unseal_private_key(sealed: str, password: str, account_id: int, public_hex: str) -> Optional[Ed25519PrivateKey]:
    """The private key, or None when the password is wrong (or the blob belongs to another key)."""
    blob = json.loads(sealed)
    if blob.get("v") != SEALED_VERSION or blob.get("kdf") != "scrypt" or blob.get("aead") != "aes-256-gcm":
        raise ValueError("not a sealed signing key this version understands")
    n, r, p = int(blob["n"]), int(blob["r"]), int(blob["p"])
    if not (2 <= n <= _SCRYPT_MAX_N and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError("sealed signing key has out-of-range scrypt parameters")
    kek = _derive(password, base64.b64decode(blob["salt"]), n, r, p)
    try:
        raw = AESGCM(kek).decrypt(base64.b64decode(blob["nonce"]), base64.b64decode(blob["ct"]),
                                  _aad(account_id, public_hex))
    except InvalidTag:
        return None
    private_key = Ed25519PrivateKey.from_private_bytes(raw)
    if public_key_hex(private_key) != public_hex:  # pragma: no cover - GCM already authenticates this
        return None
    return private_key


def current_key(session: Session, account_id: int) -> Optional[SigningKey]:
    """The account's key in use (not retired), or None before a security password is set."""
    return session.scalar(
        select(SigningKey)
        .where(SigningKey.account_id == account_id, SigningKey.retired_at.is_(None))
        .order_by(SigningKey.id.desc())
        .limit(1)
    )


def public_key_history(session: Session, account_id: int) -> list[SigningKey]:
    """Every key the account has had, oldest first; retired ones still verify old signatures."""
    return list(session.scalars(
        select(SigningKey).where(SigningKey.account_id == account_id).order_by(SigningKey.id)
    ))
