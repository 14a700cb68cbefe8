"""Business refusals of activities are one log line, not a traceback (issue 8, point 11).

`refusal()` is what activities raise (the live path is tests/web/test_refusals_live.py and, in
the real worker process, tests/web/test_refusal_logs.py); `OneLineRefusals` is the worker's net
for a coded non-retryable ApplicationError raised without it.
"""
from __future__ import annotations

import logging
import sys

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.refusal import is_business_refusal, refusal
from shiming.worker import OneLineRefusals, install_refusal_log_filter

ACTIVITY = {"workflow_id": "wage-run-P1-2026-10", "activity_type": "apply_wage_table", "attempt": 1}


def test_a_refusal_is_benign_non_retryable_and_logs_code_and_case_only(caplog):
    caplog.set_level(logging.INFO, logger="shiming.refusal")
    err = refusal("the worker 张三 has no bank card", "MissingCard", [3])
    assert err.type == "MissingCard" and err.non_retryable and err.details == ([3],)
    assert err.category == ApplicationErrorCategory.BENIGN
    assert is_business_refusal(err)
    assert [r.getMessage() for r in caplog.records] == ["refused MissingCard: case -, -"]
    assert "张三" not in caplog.text


def record_for(exc: BaseException, level=logging.WARNING) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        exc_info = sys.exc_info()
    record = logging.LogRecord("temporalio.activity", level, __file__, 1, "Completing activity as failed (%s)",
                               (ACTIVITY,), exc_info)
    record.temporal_activity = ACTIVITY
    return record


def test_a_coded_non_retryable_application_error_becomes_one_line():
    record = record_for(ApplicationError("refused for 张三", type="WageTableInvalid", non_retryable=True))
    assert OneLineRefusals().filter(record)
    assert record.getMessage() == "refused WageTableInvalid: case wage-run-P1-2026-10, apply_wage_table"
    assert record.exc_info is None and record.levelno == logging.INFO and record.levelname == "INFO"
    assert "张三" not in logging.Formatter().format(record) and "Traceback" not in logging.Formatter().format(record)


def test_faults_keep_their_warning_and_traceback():
    for exc in (RuntimeError("a bug"), ApplicationError("retry me", type="BankUnavailable"),
                ApplicationError("no code", non_retryable=True)):
        record = record_for(exc)
        assert OneLineRefusals().filter(record)
        assert record.exc_info is not None and record.levelno == logging.WARNING
        assert "Traceback" in logging.Formatter().format(record)


def test_the_worker_installs_the_filter_once():
    logger = logging.getLogger("temporalio.activity")
    install_refusal_log_filter()
    install_refusal_log_filter()
    assert sum(isinstance(f, OneLineRefusals) for f in logger.filters) == 1
