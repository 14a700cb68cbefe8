"""How an applicant reaches an application without an account.

The creation token (`domain.registration.find_by_token`) is the applicant's secret link. The
status look-up (number + phone) cannot give that token back, because only its hash is kept, so it
hands out a signed, time-limited link token (`s.` + itsdangerous payload) to the same pages.
"""
from __future__ import annotations

from typing import Optional

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from domain import registration as reg
from domain.models import RegistrationApplication

SIGNED_PREFIX = "s."  # creation tokens are token_urlsafe: they never contain a dot
SIGNED_MAX_AGE = 3 * 24 * 3600


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="shiming-registration-link")


def signed_token(secret_key: str, app: RegistrationApplication) -> str:
    return SIGNED_PREFIX + _serializer(secret_key).dumps({"a": app.id, "n": app.number})


def find_application(session: Session, secret_key: str, token: str) -> Optional[RegistrationApplication]:
    if token.startswith(SIGNED_PREFIX):
        try:
            payload = _serializer(secret_key).loads(token[len(SIGNED_PREFIX):], max_age=SIGNED_MAX_AGE)
        except BadSignature:
            return None
        app = session.get(RegistrationApplication, int(payload.get("a", 0)))
        return app if app is not None and app.number == payload.get("n") else None
    return reg.find_by_token(session, token)
