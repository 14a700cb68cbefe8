"""Audit rows: who did what to which record, when and why (DESIGN decision 7)."""
from __future__ import annotations

import json
from typing import Any, Optional

from sqlalchemy.orm import Session

from .models import AuditLog, utcnow


def record(
    session: Session,
    *,
    actor_id: Optional[int],
    actor_name: str,
    action: str,
    target_type: str,
    target_id: Any,
    business_key: Optional[str] = None,
    reason: Optional[str] = None,
    detail: Optional[dict] = None,
    remote_addr: Optional[str] = None,
) -> AuditLog:
    row = AuditLog(
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        business_key=business_key,
        reason=reason,
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
        remote_addr=remote_addr,
        created_at=utcnow(),
    )
    session.add(row)
    return row
