"""The one base class of the errors a caller tells apart by a code.

A `CodedError` carries `code` (a refusal code: the key of a translated message, or a `StrEnum`
member of a process's vocabulary) and an optional `detail` for logs. Its message is the code, or
"code: detail" when there is a detail, unless the subclass passes its own `message`. Subclasses
add their own fields (`remaining_attempts`, `masked_id_number`, …); what they are is unchanged.
"""
from __future__ import annotations


class CodedError(Exception):
    def __init__(self, code: str, detail: str = "", *, message: str | None = None):
        if message is None:
            message = f"{code}: {detail}" if detail else str(code)
        super().__init__(message)
        self.code = code
        self.detail = detail
