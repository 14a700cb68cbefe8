"""The upload guard (SEC-2): every uploaded file goes through here before anything else reads it.

- size: empty files and files over the limit are refused (read at most limit + 1 bytes);
- type by content, never by the client's name or Content-Type: scans must be PDF, JPEG or PNG
  by their magic bytes; spreadsheets must be a ZIP with the OOXML structure of a workbook;
- spreadsheets are checked as archives *before* openpyxl opens them: entry count, total declared
  uncompressed size, compression ratio of large entries (zip bombs), entry names (no absolute
  paths, no `..`, no backslashes or drive letters, no duplicates), no encrypted entries.
  `zipfile` never inflates more than an entry's declared size, so the declared sizes bound the work;
- names: stored files get server-chosen names; `display_name` turns a client's file name into
  a harmless label (no directories, no control characters) for pages only, never a path.

Codes of `UploadError` (safe to show after translation): empty_file, too_large, unsupported_type,
not_xlsx, zip_bomb, unsafe_archive.
"""
from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from typing import BinaryIO, Optional

import filetype

from .errors import CodedError

SCAN_TYPES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

MAX_XLSX_ENTRIES = 1000  # a workbook of a few sheets has a dozen or two
MAX_XLSX_UNPACKED = 100 * 1024 * 1024  # 20,000 roster rows unpack to about 11 MB
MAX_XLSX_RATIO = 200  # real sheets compress 10-20x; deflate bombs reach ~1000x
RATIO_FLOOR = 1024 * 1024  # the ratio is judged only for entries unpacking to more than this
_REQUIRED_PARTS = ("[Content_Types].xml", "_rels/.rels")


class UploadError(CodedError, ValueError):
    """A refused upload; `code` (also the message) is safe to show after translation."""


def read_upload(stream: Optional[BinaryIO], max_bytes: int) -> bytes:
    """At most `max_bytes` from an uploaded file stream; UploadError empty_file / too_large."""
    data = stream.read(max_bytes + 1) if stream is not None else b""
    if not data:
        raise UploadError("empty_file")
    if len(data) > max_bytes:
        raise UploadError("too_large")
    return data


def _check_size(data: bytes, max_bytes: int) -> None:
    if not data:
        raise UploadError("empty_file")
    if len(data) > max_bytes:
        raise UploadError("too_large")


def sniff_scan_type(data: bytes) -> str:
    """The content type of a scan judged by its bytes, never by its name."""
    kind = filetype.guess(data[:8192])
    mime = kind.mime if kind else None
    if mime not in SCAN_TYPES:
        raise UploadError("unsupported_type")
    return mime


def check_scan(data: bytes, max_bytes: int) -> str:
    """The content type of an acceptable scan (PDF/JPEG/PNG), or UploadError."""
    _check_size(data, max_bytes)
    return sniff_scan_type(data)


_DRIVE = re.compile(r"^[A-Za-z]:")


def _unsafe_name(name: str) -> bool:
    if not name or name.startswith("/") or "\\" in name or _DRIVE.match(name):
        return True
    if any(ord(c) < 32 for c in name):
        return True
    return any(part in ("..", ".") for part in name.split("/"))


def check_xlsx(data: bytes, max_bytes: int, *, max_unpacked: int = MAX_XLSX_UNPACKED,
               max_entries: int = MAX_XLSX_ENTRIES, max_ratio: int = MAX_XLSX_RATIO) -> str:
    """The content type of an acceptable .xlsx workbook, or UploadError; opens nothing but the
    archive's directory, so it is safe to run on anything."""
    _check_size(data, max_bytes)
    if not data.startswith(b"PK\x03\x04"):
        raise UploadError("not_xlsx")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
        raise UploadError("not_xlsx") from None
    if len(members) > max_entries:
        raise UploadError("unsafe_archive")
    names = set()
    unpacked = 0
    for member in members:
        if _unsafe_name(member.filename) or member.filename in names:
            raise UploadError("unsafe_archive")
        names.add(member.filename)
        if member.flag_bits & 0x1:  # encrypted entry
            raise UploadError("not_xlsx")
        unpacked += member.file_size
        if unpacked > max_unpacked:
            raise UploadError("zip_bomb")
        if member.file_size > RATIO_FLOOR and member.file_size > max_ratio * max(member.compress_size, 1):
            raise UploadError("zip_bomb")
    if any(part not in names for part in _REQUIRED_PARTS) or not any(n.startswith("xl/") for n in names):
        raise UploadError("not_xlsx")
    return XLSX


def xlsx_refusal(data: bytes, max_bytes: int, **limits) -> Optional[str]:
    """The UploadError code `check_xlsx` would raise, or None: for readers that report codes."""
    try:
        check_xlsx(data, max_bytes, **limits)
    except UploadError as exc:
        return str(exc)
    return None


def is_size_refusal(code: str) -> bool:
    """Codes that mean "too big" (a reader with only too_large / not_xlsx codes maps on this)."""
    return code in ("too_large", "zip_bomb")


def display_name(client_name: Optional[str], fallback: str, max_length: int = 100) -> str:
    """A label for pages made from the client's file name: last path segment only, no control
    or formatting characters, trimmed. Never used as a path: blobs are stored by content hash."""
    name = (client_name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name)
                   if unicodedata.category(c)[0] != "C").strip().lstrip(".")
    return name[:max_length] or fallback
