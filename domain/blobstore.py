"""Content-addressed blob store under `var/blobs` (SEC-2: stored under the content hash, never a
client's name). The upload checks are `domain.uploads` (re-exported here for older imports)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .files import write_atomic
from .models import StoredFile
from .uploads import SCAN_TYPES, UploadError, check_scan, sniff_scan_type

__all__ = ["BlobStore", "SCAN_TYPES", "UploadError", "check_scan", "find_file", "sniff_scan_type"]


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("bad blob id")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_for(digest)
        if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            return digest  # already stored intact; a corrupt copy is rewritten below
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
        return digest

    def get(self, sha256: str) -> bytes:
        data = self.path_for(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise IOError(f"blob {sha256[:12]} is corrupt")
        return data

    def store(self, session: Session, data: bytes, content_type: str, display_name: str) -> StoredFile:
        """Write the blob and add its metadata row to `session` (committed by the caller)."""
        digest = self.put(data)
        row = StoredFile(sha256=digest, size=len(data), content_type=content_type, display_name=display_name[:200])
        session.add(row)
        session.flush()
        return row

    def store_scan(self, session: Session, data: bytes, max_bytes: int, display_stem: str) -> StoredFile:
        mime = check_scan(data, max_bytes)
        return self.store(session, data, mime, display_stem + SCAN_TYPES[mime])


def find_file(session: Session, file_id: int) -> StoredFile | None:
    return session.scalar(select(StoredFile).where(StoredFile.id == file_id))
