"""Files that are whole or absent: the one atomic-write helper.

`write_atomic(path, data, mode)` writes a hidden temporary file in the same folder (".tmp-…",
so folder scans that skip dot-files never see it), gives it `mode` (0600 unless said otherwise,
as `tempfile.mkstemp` creates it), fsyncs it and renames it over `path`: a reader sees the old
file or the new one, never half of either. `create_exclusive` does the same but links instead of
renaming, so it never replaces a file that is there (also against a concurrent writer). On any
failure the temporary file is removed and the target is untouched.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

PRIVATE = 0o600  # secrets and the bank's files
READABLE = 0o644  # public key files meant to be copied by others


def write_atomic(path: Path | str, data: bytes, mode: int = PRIVATE) -> None:
    """Replace `path` with `data` (mode `mode`); readers see the old file or the new one."""
    tmp = _write_tmp(Path(path), data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def create_exclusive(path: Path | str, data: bytes, mode: int = PRIVATE) -> bool:
    """Create `path` with `data` unless it exists; False when it did (the file there is kept)."""
    tmp = _write_tmp(Path(path), data, mode)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def _write_tmp(path: Path, data: bytes, mode: int) -> str:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp
