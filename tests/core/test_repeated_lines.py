"""`RepeatedLines`: a failure that repeats (an exchange outage retried every few seconds) is
said at its level once a minute by key, its repeats at DEBUG, counted in the next line."""

import logging

import pytest

from core.repeated_lines import REPEAT_LINE_MS, RepeatedLines

log = logging.getLogger("tests.repeated_lines")


def _said(caplog) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records]


def test_repeats_within_a_minute_go_to_debug_and_are_counted_in_the_next_line(caplog) -> None:
    lines = RepeatedLines()
    with caplog.at_level(logging.DEBUG, logger=log.name):
        for at in (0, 10_000, 20_000, REPEAT_LINE_MS - 1, REPEAT_LINE_MS, REPEAT_LINE_MS + 1):
            lines.say(log, logging.WARNING, "listenKey", at, "listenKey failed: %s", "refused")

    assert _said(caplog) == [
        (logging.WARNING, "listenKey failed: refused"),
        (logging.DEBUG, "listenKey failed: refused"),
        (logging.DEBUG, "listenKey failed: refused"),
        (logging.DEBUG, "listenKey failed: refused"),
        (
            logging.WARNING,
            "listenKey failed: refused (3 more such lines since the last, at DEBUG)",
        ),
        (logging.DEBUG, "listenKey failed: refused"),
    ]


def test_one_repeat_is_said_in_the_singular(caplog) -> None:
    lines = RepeatedLines(every_ms=100)
    with caplog.at_level(logging.INFO, logger=log.name):
        for at in (0, 50, 100):
            lines.say(log, logging.INFO, "k", at, "down")

    assert _said(caplog)[-1] == (logging.INFO, "down (1 more such line since the last, at DEBUG)")


def test_keys_are_apart_and_a_success_makes_the_next_failure_news(caplog) -> None:
    lines = RepeatedLines()
    with caplog.at_level(logging.INFO, logger=log.name):
        lines.say(log, logging.INFO, "market", 0, "market: connect failed")
        lines.say(log, logging.INFO, "public", 1, "public: connect failed")
        lines.clear("market")  # reconnected
        assert "market" not in lines and "public" in lines
        lines.say(log, logging.INFO, "market", 2, "market: connect failed")
        lines.say(log, logging.INFO, "public", 3, "public: connect failed")  # a repeat

    assert _said(caplog) == [
        (logging.INFO, "market: connect failed"),
        (logging.INFO, "public: connect failed"),
        (logging.INFO, "market: connect failed"),
    ]


def test_a_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="every_ms"):
        RepeatedLines(every_ms=-1)
