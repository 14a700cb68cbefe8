"""PII encryption at rest and the content-addressed blob store with its upload checks (SEC-2)."""
from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from domain.blobstore import BlobStore, UploadError, sniff_scan_type
from domain.models import StoredFile
from domain.pii import PiiCipher
from tests.helpers.scan_samples import minimal_jpeg, minimal_pdf, minimal_png

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
CIPHER = PiiCipher(KEY)


# ---- PII cipher ------------------------------------------------------------------------------


@given(st.text(max_size=200), st.sampled_from(["", "phone", "notification", "id_number"]))
def test_encrypted_value_decrypts_to_the_original(value, context):
    assert CIPHER.decrypt(CIPHER.encrypt(value, context), context) == value


@pytest.mark.parametrize("value", ["13912345678", "450103199001011234", "张三"])
def test_ciphertext_never_contains_the_plaintext(value):
    token = CIPHER.encrypt(value, "phone")
    assert token.startswith("v1:")
    assert value not in token
    assert value.encode("utf-8") not in base64.b64decode(token[3:])


def test_encrypting_twice_gives_different_ciphertexts():
    assert CIPHER.encrypt("13912345678", "phone") != CIPHER.encrypt("13912345678", "phone")


def test_decrypting_under_another_context_fails():
    token = CIPHER.encrypt("13912345678", "phone")
    with pytest.raises(InvalidTag):
        CIPHER.decrypt(token, "notification")


def test_decrypting_under_another_key_fails():
    token = CIPHER.encrypt("13912345678", "phone")
    with pytest.raises(InvalidTag):
        PiiCipher(OTHER_KEY).decrypt(token, "phone")


@pytest.mark.parametrize("position", [0, 11, 12, 20, -1])  # nonce, ciphertext, tag
def test_tampered_ciphertext_fails(position):
    raw = bytearray(base64.b64decode(CIPHER.encrypt("13912345678", "phone")[3:]))
    raw[position] ^= 0x01
    with pytest.raises(InvalidTag):
        CIPHER.decrypt("v1:" + base64.b64encode(bytes(raw)).decode("ascii"), "phone")


def test_truncated_ciphertext_fails():
    raw = base64.b64decode(CIPHER.encrypt("13912345678", "phone")[3:])
    with pytest.raises(InvalidTag):
        CIPHER.decrypt("v1:" + base64.b64encode(raw[:-1]).decode("ascii"), "phone")


def test_unknown_ciphertext_version_is_refused():
    token = CIPHER.encrypt("13912345678", "phone")
    with pytest.raises(ValueError, match="version"):
        CIPHER.decrypt("v2:" + token[3:], "phone")


def test_short_master_key_is_refused():
    with pytest.raises(ValueError):
        PiiCipher(b"x" * 31)


def test_lookup_hash_is_deterministic_and_key_and_kind_dependent():
    h = CIPHER.lookup_hash("13912345678", "phone")
    assert h == PiiCipher(KEY).lookup_hash("13912345678", "phone")
    assert len(h) == 64 and "13912345678" not in h
    assert h != PiiCipher(OTHER_KEY).lookup_hash("13912345678", "phone")
    assert h != CIPHER.lookup_hash("13912345679", "phone")
    assert h != CIPHER.lookup_hash("13912345678", "id_number")
    assert h != hashlib.sha256(b"phone:13912345678").hexdigest()  # keyed, not a plain hash


# ---- blob store ------------------------------------------------------------------------------


def blob_files(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_same_content_is_stored_once_under_its_sha256(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    data = b"stamped application scan"
    digest = hashlib.sha256(data).hexdigest()

    assert store.put(data) == digest
    assert store.put(bytes(data)) == digest
    assert blob_files(tmp_path / "blobs") == [tmp_path / "blobs" / digest[:2] / digest]
    assert store.get(digest) == data


def test_different_content_gets_a_different_blob(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    assert store.put(b"one") != store.put(b"two")
    assert len(blob_files(tmp_path / "blobs")) == 2


def test_corrupt_blob_is_detected_on_read(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    digest = store.put(b"original bytes")
    store.path_for(digest).write_bytes(b"original bytez")
    with pytest.raises(OSError, match="corrupt"):
        store.get(digest)


@pytest.mark.parametrize("blob_id", ["../" * 20 + "etc/passwd", "A" * 64, "0" * 63, ""])
def test_malformed_blob_ids_are_refused(tmp_path, blob_id):
    with pytest.raises(ValueError):
        BlobStore(tmp_path / "blobs").path_for(blob_id)


SCANS = {
    "pdf": (minimal_pdf, "application/pdf", ".pdf"),
    "png": (minimal_png, "image/png", ".png"),
    "jpeg": (minimal_jpeg, "image/jpeg", ".jpg"),
}


@pytest.mark.parametrize("kind", SCANS)
def test_store_scan_accepts_real_pdf_png_and_jpeg(services, kind):
    make, mime, suffix = SCANS[kind]
    data = make()
    with services.Session.begin() as session:
        row = services.blobs.store_scan(session, data, max_bytes=10_000, display_stem="REG-scan")
        file_id = row.id
    with services.Session() as session:
        row = session.get(StoredFile, file_id)
        assert (row.sha256, row.size, row.content_type, row.display_name) == (
            hashlib.sha256(data).hexdigest(), len(data), mime, "REG-scan" + suffix)
    assert services.blobs.get(row.sha256) == data


def _stored_file_count(services) -> int:
    with services.Session() as session:
        return session.scalar(select(func.count()).select_from(StoredFile))


REFUSED = {
    "text renamed .pdf": (b"This is not a PDF, only named like one.\n" * 3, "unsupported_type"),
    "html": (b"<!doctype html><html><body>scan</body></html>", "unsupported_type"),
    "pdf magic too late": (b" " + minimal_pdf(), "unsupported_type"),
    "empty": (b"", "empty_file"),
    "oversized pdf": (minimal_pdf() + b"\n" * 10_000, "too_large"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_refused_upload_leaves_no_row_and_no_blob(services, case):
    data, code = REFUSED[case]
    rows_before = _stored_file_count(services)
    with services.Session.begin() as session:
        with pytest.raises(UploadError) as refused:
            services.blobs.store_scan(session, data, max_bytes=10_000, display_stem="scan")
    assert str(refused.value) == code
    assert _stored_file_count(services) == rows_before
    assert blob_files(services.blobs.root) == []


def test_upload_of_exactly_the_limit_is_accepted(services):
    data = minimal_png()
    with services.Session.begin() as session:
        services.blobs.store_scan(session, data, max_bytes=len(data), display_stem="scan")
    with services.Session.begin() as session:
        with pytest.raises(UploadError, match="too_large"):
            services.blobs.store_scan(session, data + b"\0", max_bytes=len(data), display_stem="scan")


def test_scan_type_is_judged_by_bytes_not_name():
    assert sniff_scan_type(minimal_jpeg()) == "image/jpeg"
    with pytest.raises(UploadError):
        sniff_scan_type(b"GIF89a" + b"\0" * 20)  # a real image type, but not an accepted scan type
