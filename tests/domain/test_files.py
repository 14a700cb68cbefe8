"""domain/files.py: the one atomic write, used for blobs, key files, the bank's exchange files and
the pinned bank keys. Whole or absent, with the mode asked for whatever the umask."""
from __future__ import annotations

import os
import stat

import pytest

from bank_connectors.keys import load_or_create_keys, write_public_key_file
from domain.blobstore import BlobStore
from domain.files import READABLE, create_exclusive, write_atomic
from shiming.dev import pin_bank_keys


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0)
    yield
    os.umask(old)


def test_a_written_file_is_private_unless_asked_and_leaves_no_temporary_file(tmp_path, open_umask):
    write_atomic(tmp_path / "a", b"one")
    write_atomic(tmp_path / "b", b"two", READABLE)
    assert (tmp_path / "a").read_bytes() == b"one" and _mode(tmp_path / "a") == 0o600
    assert _mode(tmp_path / "b") == 0o644
    write_atomic(tmp_path / "a", b"three")
    assert (tmp_path / "a").read_bytes() == b"three"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    write_atomic(tmp_path / "a", b"old")
    with pytest.raises(TypeError):
        write_atomic(tmp_path / "a", "not bytes")  # type: ignore[arg-type]
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path, b"x")  # the rename fails: the temporary file goes
    assert (tmp_path / "a").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


def test_create_exclusive_never_replaces(tmp_path):
    assert create_exclusive(tmp_path / "k", b"first")
    assert not create_exclusive(tmp_path / "k", b"second")
    assert (tmp_path / "k").read_bytes() == b"first" and _mode(tmp_path / "k") == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["k"]


def test_the_callers_keep_their_modes(tmp_path, open_umask):
    blobs = BlobStore(tmp_path / "blobs")
    digest = blobs.put(b"scan")
    assert _mode(blobs.path_for(digest)) == 0o600
    (tmp_path / "keys").mkdir()
    keys = load_or_create_keys(tmp_path / "keys")
    assert all(_mode(p) == 0o600 for p in (tmp_path / "keys").iterdir())
    write_public_key_file(tmp_path / "public.json", keys.public())
    assert _mode(tmp_path / "public.json") == 0o644
    pin_bank_keys(tmp_path / "public.json", tmp_path / "pinned" / "bank-keys.json")
    assert (tmp_path / "pinned" / "bank-keys.json").read_bytes() == (tmp_path / "public.json").read_bytes()
    assert _mode(tmp_path / "pinned" / "bank-keys.json") == 0o644
    assert [p.name for p in (tmp_path / "pinned").iterdir()] == ["bank-keys.json"]
