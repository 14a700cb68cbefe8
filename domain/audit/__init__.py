"""Audit rows: who did what to which record, when and why (DESIGN decision 7), in a tamper-evident
hash chain (SEC-3, docs/audit.md).

`record()` only queues the row on the session. When that session commits, a `before_commit` hook
takes the chain lock by updating the one `audit_chain` checkpoint row, inserts the queued rows and
links each to the one before:

    row_hash = HMAC-SHA256(audit key, "shiming-audit-v1\\n" + prev_hash + "\\n" + canonical(row))

The checkpoint (head: newest chained row; base: last pruned row) carries its own HMAC. Writers in
any number of processes are serialized by that row lock for the few statements before their
commit, so ids grow in chain order and the chain cannot fork. `verify()` walks the rows in id order
and names every changed, inserted or deleted row. Application code cannot edit or delete audit
rows: ORM updates and deletes of `AuditLog` raise.

One module per concern (chain: the key, hashes and checkpoint; writing: `record`, the commit hook
and the append-only guards; verify: the walk and its report; retention: `prune`); this package
exports their public names, and importing it installs the session hooks.
"""
from .chain import (
    GENESIS,
    CHAIN_ID,
    FIELDS,
    AuditChainError,
    use_key,
    canonical,
    row_mac,
    checkpoint_mac,
)
from .writing import AuditRowImmutable, record
from .verify import (
    CHANGED,
    INSERTED,
    DELETED,
    OUT_OF_ORDER,
    CHECKPOINT,
    MAX_LISTED,
    Problem,
    Report,
    verify,
)
from .retention import PruneResult, prune

__all__ = [
    "GENESIS", "CHAIN_ID", "FIELDS", "AuditChainError", "use_key", "canonical", "row_mac", "checkpoint_mac",
    "AuditRowImmutable", "record",
    "CHANGED", "INSERTED", "DELETED", "OUT_OF_ORDER", "CHECKPOINT", "MAX_LISTED", "Problem", "Report", "verify",
    "PruneResult", "prune",
]
