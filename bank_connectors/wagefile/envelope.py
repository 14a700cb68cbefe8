"""The wage file's envelope (docs/bank-protocol.md, "Envelope"): the plaintext encrypted with a
random content key (SM4-GCM, or AES-256-GCM), the content key wrapped for the bank's X25519 key
(ephemeral ECDH + HKDF-SHA256), the whole signed with the platform's Ed25519 key."""
from __future__ import annotations

import hashlib
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..signing import (b64decode, b64encode, canonical_json, public_hex, sign_document, verify_document,
                       x25519_public_from_hex)
from .plaintext import BATCH_ID_RE, WageFileError, WageFileHeader, WageFileLine, decode_wage_file

ENVELOPE_VERSION = 1
ALG_SM4 = "X25519-HKDF-SHA256+SM4-GCM"
ALG_AES = "X25519-HKDF-SHA256+AES-256-GCM"
WAGE_FILE_DOMAIN = b"SHIMING-WAGE-FILE-V1\n"
HKDF_INFO = b"shiming wage-file v1 key-wrap "  # + the alg string
CEK_AAD = b"shiming wage-file v1 cek|"  # + batch id
CONTENT_AAD = b"shiming wage-file v1 content|"  # + batch id


def sm4_gcm_available() -> bool:
    try:
        _gcm_encrypt(ALG_SM4, bytes(16), bytes(12), b"", b"")
        return True
    except Exception:  # noqa: BLE001 - OpenSSL built without SM4
        return False


_KEY_LEN = {ALG_SM4: 16, ALG_AES: 32}
SUPPORTED_ALGS = tuple(_KEY_LEN)


def _gcm_encrypt(alg: str, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    if alg == ALG_AES:
        return AESGCM(key).encrypt(nonce, data, aad)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    return encryptor.update(data) + encryptor.finalize() + encryptor.tag


def _gcm_decrypt(alg: str, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """Raises InvalidTag when the data or the key is wrong."""
    if alg == ALG_AES:
        return AESGCM(key).decrypt(nonce, data, aad)
    if len(data) < 16:
        raise InvalidTag()
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, data[-16:])).decryptor()
    decryptor.authenticate_additional_data(aad)
    return decryptor.update(data[:-16]) + decryptor.finalize()


def _kek(alg: str, shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=_KEY_LEN[alg], salt=ephemeral_public + recipient_public,
                info=HKDF_INFO + alg.encode("ascii")).derive(shared)


DEFAULT_ALG = ALG_SM4 if sm4_gcm_available() else ALG_AES


def seal_wage_file(plaintext: bytes, *, batch_id: str, platform_signing_key: Ed25519PrivateKey,
                   bank_public_key: X25519PublicKey, alg: str = DEFAULT_ALG) -> bytes:
    """Encrypt `plaintext` for the bank and sign the result; returns the envelope (canonical JSON)."""
    if not isinstance(batch_id, str) or not BATCH_ID_RE.match(batch_id):
        raise WageFileError("BAD_BATCH_ID", repr(batch_id))
    if alg not in _KEY_LEN:
        raise WageFileError("UNSUPPORTED_ALG", alg)
    batch = batch_id.encode("ascii")
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = bytes.fromhex(public_hex(ephemeral.public_key()))
    recipient = bytes.fromhex(public_hex(bank_public_key))
    kek = _kek(alg, ephemeral.exchange(bank_public_key), ephemeral_public, recipient)
    cek = os.urandom(_KEY_LEN[alg])
    key_nonce, nonce = os.urandom(12), os.urandom(12)
    envelope = {
        "version": ENVELOPE_VERSION,
        "batch_id": batch_id,
        "alg": alg,
        "recipient": recipient.hex(),
        "ephemeral_public_key": ephemeral_public.hex(),
        "key_nonce": b64encode(key_nonce),
        "wrapped_key": b64encode(_gcm_encrypt(alg, kek, key_nonce, cek, CEK_AAD + batch)),
        "nonce": b64encode(nonce),
        "ciphertext": b64encode(_gcm_encrypt(alg, cek, nonce, plaintext, CONTENT_AAD + batch)),
        "plaintext_sha256": hashlib.sha256(plaintext).hexdigest(),
    }
    return canonical_json(sign_document(envelope, platform_signing_key, WAGE_FILE_DOMAIN))


ENVELOPE_FIELDS = {"version", "batch_id", "alg", "recipient", "ephemeral_public_key", "key_nonce", "wrapped_key",
                   "nonce", "ciphertext", "plaintext_sha256", "signer", "signature"}


def parse_envelope(envelope: bytes) -> dict:
    """The envelope's JSON object, its shape checked (nothing verified yet)."""
    try:
        obj = json.loads(envelope)
    except (ValueError, UnicodeDecodeError):
        raise WageFileError("BAD_ENVELOPE", "not JSON") from None
    if not isinstance(obj, dict) or set(obj) != ENVELOPE_FIELDS:
        raise WageFileError("BAD_ENVELOPE", "wrong set of fields")
    if obj["version"] != ENVELOPE_VERSION or isinstance(obj["version"], bool):
        raise WageFileError("BAD_ENVELOPE", f"version {obj['version']!r}")
    if any(not isinstance(obj[name], str) for name in ENVELOPE_FIELDS - {"version"}):
        raise WageFileError("BAD_ENVELOPE", "fields other than version are strings")
    if not BATCH_ID_RE.match(obj["batch_id"]):
        raise WageFileError("BAD_BATCH_ID", repr(obj["batch_id"]))
    return obj


def open_envelope(envelope: bytes, *, bank_private_key: X25519PrivateKey,
                  platform_public_key: Ed25519PublicKey) -> tuple[str, bytes]:
    """Verify the signature, then decrypt: `(batch_id, plaintext)`. Raises WageFileError."""
    obj = parse_envelope(envelope)
    if not verify_document(obj, platform_public_key, WAGE_FILE_DOMAIN):
        raise WageFileError("BAD_SIGNATURE", "the platform's signature does not verify")
    alg = obj["alg"]
    if alg not in _KEY_LEN:
        raise WageFileError("UNSUPPORTED_ALG", alg)
    recipient = bytes.fromhex(public_hex(bank_private_key.public_key()))
    if obj["recipient"] != recipient.hex():
        raise WageFileError("DECRYPT_FAILED", "sealed for another key")
    batch = obj["batch_id"].encode("ascii")
    try:
        ephemeral = x25519_public_from_hex(obj["ephemeral_public_key"])
        kek = _kek(alg, bank_private_key.exchange(ephemeral), bytes.fromhex(obj["ephemeral_public_key"]), recipient)
        cek = _gcm_decrypt(alg, kek, b64decode(obj["key_nonce"]), b64decode(obj["wrapped_key"]), CEK_AAD + batch)
        plaintext = _gcm_decrypt(alg, cek, b64decode(obj["nonce"]), b64decode(obj["ciphertext"]),
                                 CONTENT_AAD + batch)
    except (ValueError, InvalidTag):
        raise WageFileError("DECRYPT_FAILED", "the content does not decrypt") from None
    if hashlib.sha256(plaintext).hexdigest() != obj["plaintext_sha256"]:
        raise WageFileError("HASH_MISMATCH", "plaintext_sha256 does not match the content")
    return obj["batch_id"], plaintext


def open_wage_file(envelope: bytes, *, bank_private_key: X25519PrivateKey,
                   platform_public_key: Ed25519PublicKey) -> tuple[WageFileHeader, list[WageFileLine], str]:
    """Verify, decrypt and decode an envelope: `(header, lines, plaintext_sha256)`."""
    batch_id, plaintext = open_envelope(envelope, bank_private_key=bank_private_key,
                                        platform_public_key=platform_public_key)
    header, lines = decode_wage_file(plaintext)
    if header.batch_id != batch_id:
        raise WageFileError("BATCH_ID_MISMATCH", f"envelope {batch_id}, header {header.batch_id}")
    return header, lines, hashlib.sha256(plaintext).hexdigest()
