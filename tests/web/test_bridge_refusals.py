"""TemporalBridge.update: which code a failed update becomes (issue 8, point 2).

The failures are the SDK's own exception types, chained as the client raises them; the whole
path against the real dev server is tests/web/test_refusals_live.py. Here: the nesting cases the
live stories do not produce (a child workflow, a re-typed refusal) and the RPC status rule.
"""
from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, RetryState
from temporalio.service import RPCError, RPCStatusCode

from web.temporal_bridge import ProcessRefused, TemporalBridge, innermost_refusal


def activity_error(cause: BaseException) -> ActivityError:
    err = ActivityError("activity task failed", scheduled_event_id=5, started_event_id=6, identity="worker",
                        activity_type="apply_wage_table", activity_id="1", retry_state=RetryState.NON_RETRYABLE_FAILURE)
    err.__cause__ = cause
    return err


def child_error(cause: BaseException) -> ChildWorkflowError:
    err = ChildWorkflowError("child workflow failed", namespace="default", workflow_id="child", run_id="r",
                             workflow_type="Child", initiated_event_id=7, started_event_id=8,
                             retry_state=RetryState.NON_RETRYABLE_FAILURE)
    err.__cause__ = cause
    return err


def refused(code: str, *details) -> ApplicationError:
    return ApplicationError(f"refused: {code}", *details, type=code, non_retryable=True)


class Handle:
    def __init__(self, exc: BaseException):
        self.exc = exc

    async def execute_update(self, update, arg):
        raise self.exc


class Client:
    def __init__(self, exc: BaseException):
        self.exc = exc

    def get_workflow_handle(self, workflow_id: str) -> Handle:
        return Handle(self.exc)


def update_raising(exc: BaseException) -> ProcessRefused:
    async def connect():
        return Client(exc)

    bridge = TemporalBridge("127.0.0.1:1", "default", "q", connect=connect)

    def submit_wage_table():  # stands for the update method: its name is the logged action
        pass

    with pytest.raises(ProcessRefused) as caught:
        bridge.update("wage-run-P1-2026-10", submit_wage_table, None)
    return caught.value


@pytest.mark.parametrize("chain, code", [
    (lambda: refused("MakerChecker"), "MakerChecker"),  # a validator's refusal
    (lambda: activity_error(refused("WageTableInvalid", 42)), "WageTableInvalid"),  # an activity's
    (lambda: child_error(activity_error(refused("MissingCard"))), "MissingCard"),  # a child workflow's activity
    (lambda: child_error(refused("BankRefused")), "BankRefused"),
    # a workflow re-raising an activity's refusal under its own ApplicationError keeps the inner code
    (lambda: (lambda outer: (setattr(outer, "__cause__", activity_error(refused("not_exiting"))), outer)[1])(
        ApplicationError("the exit could not be withdrawn", non_retryable=True)), "not_exiting"),
    (lambda: (lambda outer: (setattr(outer, "__cause__", activity_error(refused("SignatureRefused"))), outer)[1])(
        ApplicationError("wrapped", type="Refused", non_retryable=True)), "SignatureRefused"),
])
def test_the_innermost_typed_refusal_is_the_code(chain, code):
    exc = update_raising(WorkflowUpdateFailedError(chain()))
    assert exc.code == code
    assert exc.case == "wage-run-P1-2026-10" and exc.action == "submit_wage_table"


def test_the_refusal_details_come_along():
    exc = update_raising(WorkflowUpdateFailedError(activity_error(refused("WageTableInvalid", 42, [[3, "I", "bad"]]))))
    assert exc.details == (42, [[3, "I", "bad"]])


def test_a_failure_without_a_refusal_code_is_the_generic_refusal():
    timeout = activity_error(RuntimeError("boom"))
    assert update_raising(WorkflowUpdateFailedError(timeout)).code == "Refused"
    assert innermost_refusal(ApplicationError("untyped")) is None


@pytest.mark.parametrize("message", ["workflow execution already completed", "workflow not found for ID: x",
                                     "some other wording of the server"])
def test_a_closed_or_unknown_process_is_known_by_its_status(message):
    assert update_raising(RPCError(message, RPCStatusCode.NOT_FOUND, b"")).code == "CaseFinished"


def test_other_rpc_errors_are_not_taken_for_a_closed_process():
    async def connect():
        return Client(RPCError("the history service has not found its shard; closed for now",
                               RPCStatusCode.UNAVAILABLE, b""))

    bridge = TemporalBridge("127.0.0.1:1", "default", "q", connect=connect)
    with pytest.raises(RPCError):
        bridge.update("wage-run-P1-2026-10", lambda: None, None)
