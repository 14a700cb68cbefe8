"""The bundle of process-wide services built once at start-up by the composition root."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from . import audit, scope
from .blobstore import BlobStore
from .calendar import WorkingCalendar
from .db import make_engine, make_session_factory
from .pii import PiiCipher
from .settings import Settings


@dataclass
class Services:
    settings: Settings
    engine: Engine
    Session: sessionmaker[Session]
    cipher: PiiCipher
    blobs: BlobStore
    calendar: WorkingCalendar

    @classmethod
    def build(cls, settings: Settings) -> "Services":
        engine = make_engine(settings.database_url)
        audit.use_key(engine, settings.audit_key)  # SEC-3: audit rows written through this engine are chained
        session_factory = make_session_factory(engine)
        scope.install(session_factory)  # ACC-2: one scoping rule for every ORM read (domain/scope.py)
        return cls(
            settings=settings,
            engine=engine,
            Session=session_factory,
            cipher=PiiCipher(settings.pii_key),
            blobs=BlobStore(settings.blob_dir),
            calendar=WorkingCalendar.from_strings(settings.holidays, settings.extra_workdays),
        )
