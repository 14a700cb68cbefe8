"""The Temporal payload codec (issue 4, PII in Temporal): AES-256-GCM per payload, key ids for
rotation, refusal of altered payloads, plaintext histories from before the codec still readable."""
from __future__ import annotations

import asyncio

import pytest
from temporalio.api.common.v1 import Payload

from shiming.temporal import ENCRYPTED, EncryptionCodec, PayloadDecryptError, data_converter
from tests.helpers.services import make_settings

OLD, NEW = bytes(range(32)), bytes(range(1, 33))
ID_NUMBER = "11010519491231002X"


def _payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


def run(coro):
    return asyncio.run(coro)


def test_payloads_are_encrypted_and_come_back_whole():
    codec = EncryptionCodec([NEW])
    [enc] = run(codec.encode([_payload(ID_NUMBER)]))
    assert enc.metadata["encoding"] == ENCRYPTED
    assert ID_NUMBER.encode() not in enc.SerializeToString() and b"json/plain" not in enc.data
    [dec] = run(codec.decode([enc]))
    assert dec == _payload(ID_NUMBER)
    [again] = run(codec.encode([_payload(ID_NUMBER)]))
    assert again.data != enc.data  # a fresh nonce each time


def test_rotation_decrypts_old_payloads_and_encrypts_with_the_first_key():
    [old] = run(EncryptionCodec([OLD]).encode([_payload("x")]))
    rotated = EncryptionCodec([NEW, OLD])
    assert run(rotated.decode([old])) == [_payload("x")]
    [new] = run(rotated.encode([_payload("y")]))
    assert run(EncryptionCodec([NEW]).decode([new])) == [_payload("y")]
    with pytest.raises(PayloadDecryptError, match="unknown key"):
        run(EncryptionCodec([NEW]).decode([old]))


def test_an_altered_payload_is_refused():
    codec = EncryptionCodec([NEW])
    [enc] = run(codec.encode([_payload("z")]))
    tampered = Payload(metadata=dict(enc.metadata), data=enc.data[:-1] + bytes([enc.data[-1] ^ 1]))
    with pytest.raises(PayloadDecryptError, match="authentication"):
        run(codec.decode([tampered]))


def test_plaintext_payloads_pass_through():
    assert run(EncryptionCodec([NEW]).decode([_payload("old history")])) == [_payload("old history")]


def test_the_platform_converter_encrypts_values_and_failures(tmp_path):
    converter = data_converter(make_settings(tmp_path, payload_keys=NEW.hex()))
    [payload] = run(converter.encode([{"id_number": ID_NUMBER}]))
    assert ID_NUMBER.encode() not in payload.SerializeToString()
    assert run(converter.decode([payload])) == [{"id_number": ID_NUMBER}]
    # failure messages and stack traces go into the encrypted encoded attributes too
    from temporalio.api.failure.v1 import Failure

    failure = Failure()
    run(converter.encode_failure(ValueError(f"card of {ID_NUMBER}"), failure))
    assert failure.message == "Encoded failure" and failure.HasField("encoded_attributes")
    assert ID_NUMBER.encode() not in failure.SerializeToString()


def test_settings_need_proper_payload_keys(tmp_path):
    from domain.settings import ConfigError

    with pytest.raises(ConfigError):
        make_settings(tmp_path, payload_keys="abcd")
    settings = make_settings(tmp_path, payload_keys=f"{NEW.hex()},{OLD.hex()}")
    assert settings.payload_keys == (NEW, OLD)
    generated = make_settings(tmp_path / "fresh")  # development: a key generated once under the data directory
    assert len(generated.payload_keys) == 1 and len(generated.payload_keys[0]) == 32
    assert make_settings(tmp_path / "fresh").payload_keys == generated.payload_keys
