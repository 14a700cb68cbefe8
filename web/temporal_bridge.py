"""One Temporal client per web process, driven on a background event loop thread."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Callable, Optional

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError


class ProcessRefused(Exception):
    """The process refused an action; `code` maps to a translated message."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code


class TemporalBridge:
    def __init__(self, address: str, namespace: str, task_queue: str,
                 connect: Optional[Callable[[], Awaitable[Client]]] = None):
        self.address, self.namespace, self.task_queue = address, namespace, task_queue
        self._connect = connect or (lambda: Client.connect(address, namespace=namespace))
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

        async def call(client: Client):
            return await client.get_workflow_handle(workflow_id).execute_update(update, arg)

        try:
            return self.run(call)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError):
                raise ProcessRefused(cause.type or "Refused", cause.message) from None
            raise ProcessRefused("Refused", str(cause)) from None
        except RPCError as exc:
            text = str(exc).lower()
            if "not found" in text or "completed" in text or "closed" in text:
                raise ProcessRefused("CaseFinished", "the process is no longer running") from None
            raise
