"""A party's key pairs on disk: Ed25519 for signing, X25519 for receiving encrypted files.

`load_or_create_keys(directory)` keeps `signing.pem` and `encryption.pem` (PKCS#8, mode 0600) in
`directory`, creating them on first use; concurrent first starts agree on one pair. Public keys
travel as JSON `{"signing": hex, "encryption": hex}` (raw 32-byte keys, lower-case hex).
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption, PrivateFormat,
                                                          load_pem_private_key)

from .signing import ed25519_public_from_hex, public_hex, x25519_public_from_hex

SIGNING_FILE = "signing.pem"
ENCRYPTION_FILE = "encryption.pem"


@dataclass(frozen=True)
class PublicKeys:
    signing: Ed25519PublicKey
    encryption: X25519PublicKey

    def to_dict(self) -> dict:
        return {"signing": public_hex(self.signing), "encryption": public_hex(self.encryption)}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True).encode("ascii")

    @classmethod
    def from_dict(cls, data: dict) -> "PublicKeys":
        """Raises ValueError for anything but two 64-hex-digit keys."""
        if not isinstance(data, dict):
            raise ValueError("public keys must be a JSON object")
        return cls(signing=ed25519_public_from_hex(data.get("signing")),
                   encryption=x25519_public_from_hex(data.get("encryption")))

    @classmethod
    def from_json(cls, body: bytes | str) -> "PublicKeys":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError("public keys are not JSON") from exc
        return cls.from_dict(data)


@dataclass(frozen=True)
class KeyPairs:
    signing: Ed25519PrivateKey
    encryption: X25519PrivateKey

    def public(self) -> PublicKeys:
        return PublicKeys(self.signing.public_key(), self.encryption.public_key())


def load_or_create_keys(directory: Path) -> KeyPairs:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    signing = _load_or_create(directory / SIGNING_FILE, Ed25519PrivateKey)
    encryption = _load_or_create(directory / ENCRYPTION_FILE, X25519PrivateKey)
    return KeyPairs(signing=signing, encryption=encryption)


def export_public_keys(keys: KeyPairs) -> dict:
    """`{"signing": hex, "encryption": hex}` of a key pair set."""
    return keys.public().to_dict()


def _load_or_create(path: Path, kind):
    if not path.exists():
        key = kind.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-key-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # fails if another process created the key first: use theirs
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, kind):
        raise ValueError(f"{path} does not hold a {kind.__name__.removesuffix('PrivateKey')} key")
    return key
