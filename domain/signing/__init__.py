"""Security password, signing keys and signed wage steps (PAY-1, SEC-4, DESIGN decision 3).

A payroll specialist's Ed25519 private key is sealed under their security password: scrypt turns
the password into a 32-byte key, AES-256-GCM encrypts the raw private key. Every set or change
makes a new key pair; the old key is retired (its public half kept for verification, its sealed
private half destroyed). A wage step is a canonical JSON document signed with the key; each
document names the previous signature of the run, so a run's signatures form a chain that anyone
holding the public keys can check offline (docs/signing.md).

Failed security-password attempts are counted in their own short transaction, committed before
the error is raised, so a caller's rollback can never lose the count.

One module per concern (keys: sealing and look-ups; security_password: unlock, lockout, set and
change; documents: the step document and its signature; chain: appending and verifying a run's
chain); this package exports their public names.
"""
from .keys import (
    SCRYPT_N,
    SCRYPT_R,
    SCRYPT_P,
    SEALED_VERSION,
    UnlockedKey,
    public_key_hex,
    seal_private_key,
    unseal_private_key,
    current_key,
    public_key_history,
)
from .security_password import (
    MAX_ATTEMPTS,
    LOCKOUT,
    SecurityPasswordError,
    unlock,
    security_password_problems,
    set_security_password,
)
from .documents import (
    DOCUMENT_VERSION,
    DOCUMENT_KIND,
    canonical_json,
    step_document,
    parse_step_document,
    document_sha256,
    sign,
)
from .chain import (
    SignatureError,
    verify,
    record_signature,
    export_chain,
    check_exported_chain,
    verify_chain,
)

__all__ = [
    "SCRYPT_N", "SCRYPT_R", "SCRYPT_P", "SEALED_VERSION", "UnlockedKey", "public_key_hex", "seal_private_key",
    "unseal_private_key", "current_key", "public_key_history",
    "MAX_ATTEMPTS", "LOCKOUT", "SecurityPasswordError", "unlock", "security_password_problems",
    "set_security_password",
    "DOCUMENT_VERSION", "DOCUMENT_KIND", "canonical_json", "step_document", "parse_step_document",
    "document_sha256", "sign",
    "SignatureError", "verify", "record_signature", "export_chain", "check_exported_chain", "verify_chain",
]
