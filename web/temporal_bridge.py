"""One Temporal client per web process, driven on a background event loop thread."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Callable, Optional, Sequence

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import CodedError

# what the server answers for an update of a process that does not exist or has closed
CLOSED_STATUSES = (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION)


class ProcessRefused(CodedError):
    """The process refused an action; `code` maps to a translated message.

    `case` is the workflow id (logged with the code, never the message, which may name a person),
    `action` the update's name, `details` the refusal's details (e.g. the error report's file id).
    """

    def __init__(self, code: str, message: str = "", case: str = "", action: str = "",
                 details: Sequence[Any] = ()):
        super().__init__(code, message=message or code)
        self.case = case
        self.action = action
        self.details = tuple(details)


def innermost_refusal(exc: Optional[BaseException]) -> Optional[ApplicationError]:
    """The innermost ApplicationError with a type along `exc`'s cause chain, or None.

    An activity's refusal reaches the client as WorkflowUpdateFailedError → ActivityError →
    ApplicationError, a child workflow's as … → ChildWorkflowError → ApplicationError; the
    refusal's own code is the innermost typed one. Every Temporal failure error keeps its cause
    in `__cause__`.
    """
    found: Optional[ApplicationError] = None
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ApplicationError) and exc.type:
            found = exc
        exc = exc.__cause__
    return found


def is_closed_case(exc: RPCError) -> bool:
    """The process is not there (unknown id) or no longer running (completed, failed, terminated)."""
    return exc.status in CLOSED_STATUSES


class TemporalBridge:
    def __init__(self, address: str, namespace: str, task_queue: str,
                 connect: Callable[[], Awaitable[Client]]):
        """`connect` makes the client (with the platform's data converter: the composition root,
        shiming/webapp.py, passes it in); it is called once, on the first use."""
        self.address, self.namespace, self.task_queue = address, namespace, task_queue
        self._connect = connect
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._client: Optional[Client] = None
        self._lock = threading.Lock()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="temporal-bridge", daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, fn: Callable[[Client], Awaitable[Any]], timeout: float = 60) -> Any:
        """Run `fn(client)` on the bridge loop and wait for its result."""
        loop = self._ensure_loop()

        async def call():
            if self._client is None:
                self._client = await self._connect()
            return await fn(self._client)

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout)

    def update(self, workflow_id: str, update, arg) -> Any:
        """Execute a workflow update; a refusal raises ProcessRefused with the process's code."""
        action = getattr(update, "__name__", str(update))

        async def call(client: Client):
            return await client.get_workflow_handle(workflow_id).execute_update(update, arg)

        try:
            return self.run(call)
        except WorkflowUpdateFailedError as exc:
            refusal = innermost_refusal(exc)
            if refusal is not None:
                raise ProcessRefused(refusal.type, refusal.message, workflow_id, action, refusal.details) from None
            raise ProcessRefused("Refused", "the update failed without a refusal code", workflow_id, action) from None
        except RPCError as exc:
            if is_closed_case(exc):
                raise ProcessRefused("CaseFinished", "the process is no longer running", workflow_id, action) from None
            raise
