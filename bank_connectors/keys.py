"""A party's key pairs on disk: Ed25519 for signing, X25519 for receiving encrypted files.

`load_or_create_keys(directory)` keeps `signing.pem` and `encryption.pem` (PKCS#8, mode 0600) in
`directory`, creating them on first use; concurrent first starts agree on one pair. Public keys
travel as JSON `{"signing": hex, "encryption": hex}` (raw 32-byte keys, lower-case hex).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption, PrivateFormat,
                                                          load_pem_private_key)

from domain.files import PRIVATE, READABLE, create_exclusive, write_atomic

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
        create_exclusive(path, pem, PRIVATE)  # if another process created the key first: use theirs
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, kind):
        raise ValueError(f"{path} does not hold a {kind.__name__.removesuffix('PrivateKey')} key")
    return key


# --- the bank's keys as the platform pins them -----------------------------------------------------
#
# The platform trusts a bank only through keys provisioned out of band: a JSON file the operator
# copies from the bank (SHIMING_BANK_KEYS_FILE), never keys fetched from whoever answers at the
# bank's address or found in the exchange folder. The file lists one or more key sets, each with a
# key id; statements signed by any listed signing key verify, and wage files are encrypted to the
# current key set ("current", or the last one listed). A rotation lists old and new during an
# overlap, then drops the old one (docs/signing.md, "Bank keys").

BANK_KEYS_TYPE = "shiming-bank-keys"
KEY_ID_MAX = 64


class BankKeysError(ValueError):
    """The pinned bank key file is missing, unreadable or not of the expected form."""


@dataclass(frozen=True)
class PinnedKey:
    key_id: str
    signing: Ed25519PublicKey
    encryption: X25519PublicKey

    def to_dict(self) -> dict:
        return {"key_id": self.key_id, "signing": public_hex(self.signing),
                "encryption": public_hex(self.encryption)}


@dataclass(frozen=True)
class PinnedBankKeys:
    """The bank's key sets the platform trusts, oldest first; `current` receives wage files."""

    keys: tuple
    current_id: str

    @property
    def current(self) -> PinnedKey:
        return next(k for k in self.keys if k.key_id == self.current_id)

    @property
    def encryption(self) -> X25519PublicKey:
        """The key wage files are encrypted to: the current key set's."""
        return self.current.encryption

    @property
    def signing(self) -> Ed25519PublicKey:
        """The current signing key (statements by any pinned key verify: see `signing_keys`)."""
        return self.current.signing

    @property
    def signing_keys(self) -> tuple:
        return tuple(k.signing for k in self.keys)

    def key_id_of(self, signer_hex: str) -> str | None:
        for key in self.keys:
            if public_hex(key.signing) == signer_hex:
                return key.key_id
        return None

    def to_dict(self) -> dict:
        return {"type": BANK_KEYS_TYPE, "current": self.current_id, "keys": [k.to_dict() for k in self.keys]}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True).encode("ascii") + b"\n"

    @classmethod
    def single(cls, public: PublicKeys, key_id: str | None = None) -> "PinnedBankKeys":
        key_id = key_id or key_id_for(public.signing)
        return cls((PinnedKey(key_id, public.signing, public.encryption),), key_id)

    @classmethod
    def from_dict(cls, data) -> "PinnedBankKeys":
        """`{"keys": [{"key_id", "signing", "encryption"}, …], "current": key_id}`; a bare
        `{"signing", "encryption"}` (the form GET /api/v1/keys answers) is one key set."""
        if not isinstance(data, dict):
            raise BankKeysError("the bank key file must hold a JSON object")
        if "keys" not in data:
            try:
                return cls.single(PublicKeys.from_dict(data))
            except ValueError as exc:
                raise BankKeysError(f"bank keys: {exc}") from None
        items = data["keys"]
        if not isinstance(items, list) or not items:
            raise BankKeysError("bank keys: \"keys\" must be a non-empty list")
        keys, ids = [], set()
        for item in items:
            if not isinstance(item, dict):
                raise BankKeysError("bank keys: each key set is a JSON object")
            try:
                public = PublicKeys.from_dict(item)
            except ValueError as exc:
                raise BankKeysError(f"bank keys: {exc}") from None
            key_id = item.get("key_id") or key_id_for(public.signing)
            if not isinstance(key_id, str) or len(key_id) > KEY_ID_MAX or key_id in ids:
                raise BankKeysError(f"bank keys: bad or repeated key_id {key_id!r}")
            ids.add(key_id)
            keys.append(PinnedKey(key_id, public.signing, public.encryption))
        current = data.get("current") or keys[-1].key_id
        if current not in ids:
            raise BankKeysError(f"bank keys: current key {current!r} is not listed")
        return cls(tuple(keys), current)

    @classmethod
    def from_json(cls, body: bytes | str) -> "PinnedBankKeys":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise BankKeysError("the bank key file is not JSON") from exc
        return cls.from_dict(data)


def key_id_for(signing: Ed25519PublicKey) -> str:
    """A default key id: the first 16 hex digits of the signing key."""
    return public_hex(signing)[:16]


def load_pinned_bank_keys(path: Path | str) -> PinnedBankKeys:
    path = Path(path)
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise BankKeysError(f"cannot read the bank key file {path}: {exc.strerror or exc}") from None
    return PinnedBankKeys.from_json(body)


class PinnedKeysFile:
    """The pinned key file, re-read when it changes (so a rotation needs no restart).

    Calling it returns the current PinnedBankKeys or raises BankKeysError (also when no file is
    configured). A file that becomes unreadable is an error, never a reason to trust less.
    """

    def __init__(self, path: Path | str | None):
        self.path = Path(path) if path else None
        self._cached: tuple | None = None

    def __call__(self) -> PinnedBankKeys:
        if self.path is None:
            raise BankKeysError("no bank keys are pinned: set SHIMING_BANK_KEYS_FILE to the bank's key file")
        try:
            st = self.path.stat()
        except OSError as exc:
            raise BankKeysError(f"cannot read the bank key file {self.path}: {exc.strerror or exc}") from None
        mark = (st.st_mtime_ns, st.st_size, st.st_ino)
        if self._cached is None or self._cached[0] != mark:
            self._cached = (mark, load_pinned_bank_keys(self.path))
        return self._cached[1]


def write_public_key_file(path: Path | str, keys: PinnedBankKeys) -> None:
    """Write a key file for the platform to pin (atomically; readable by whoever may copy it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, keys.to_json(), READABLE)


def trusted_signing_keys(trusted) -> tuple:
    """The Ed25519 keys a statement may be signed by: from pinned keys, public keys, one key or a list."""
    if isinstance(trusted, PinnedBankKeys):
        return trusted.signing_keys
    if isinstance(trusted, PublicKeys):
        return (trusted.signing,)
    if isinstance(trusted, Ed25519PublicKey):
        return (trusted,)
    return tuple(trusted)
