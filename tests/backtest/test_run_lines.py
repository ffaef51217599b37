"""backtest.run_lines: a backtest's warnings named after its run, or not printed."""

import logging

from backtest.run_lines import RUN_LOGGERS, named_run, quiet_run
from trading_engine.exec_manager import ExecManager

LOG = logging.getLogger(ExecManager.__module__)


def test_the_execmanagers_logger_is_one_a_run_writes_to():
    assert ExecManager.__module__ in RUN_LOGGERS


def test_a_named_runs_lines_start_with_its_name_and_only_inside_it(caplog):
    with caplog.at_level("WARNING"), named_run("candidate backtest"):
        LOG.warning("trading state %s -> %s: %s", "ACTIVE", "HALTED", "100% down")
    with caplog.at_level("WARNING"):
        LOG.warning("after the run")

    assert [r.getMessage() for r in caplog.records] == [
        "candidate backtest: trading state ACTIVE -> HALTED: 100% down",
        "after the run",
    ]


def test_a_quiet_run_prints_its_errors_only(caplog):
    with caplog.at_level("WARNING"), quiet_run():
        LOG.warning("its stop-loss closed the long")
        LOG.error("the venue refused it")

    assert [r.getMessage() for r in caplog.records] == ["the venue refused it"]
