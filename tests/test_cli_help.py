"""Every option of the command lines a user starts with says what it does in --help, and no
help prints a default that is none (argparse's `(default: None)` of a required option)."""

import argparse
from collections.abc import Callable

import pytest

import backtest_trading_strategy
import fetch_historical
from analysis import correlation, pnl, visualize
from model import review, train
from runtime import cli

PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "app.py": cli.build_parser,
    "fetch_historical.py": fetch_historical.build_parser,
    "backtest_trading_strategy.py": backtest_trading_strategy.parser,
    "python -m model.train": train.build_parser,
    "python -m model.review": review.parser,
    # The README's analysis commands: correlation's --method and --flow said nothing.
    "python -m analysis.pnl": pnl.parser,
    "python -m analysis.visualize": visualize.parser,
    "python -m analysis.correlation": correlation.parser,
}


@pytest.mark.parametrize("name", PARSERS)
def test_every_option_has_help_and_no_empty_default(name: str) -> None:
    parser = PARSERS[name]()

    undocumented = [a.option_strings[-1] for a in parser._actions if not (a.help or "").strip()]
    text = " ".join(parser.format_help().split())

    assert undocumented == []
    assert "(default: None)" not in text and "(default: False)" not in text


def test_the_fetch_help_gives_the_defaults_and_the_limits() -> None:
    text = " ".join(fetch_historical.build_parser().format_help().split())

    assert "(default: 1m)" in text and "(default: data_store)" in text
    assert "(default: https://fapi.binance.com)" in text
    assert "not before 2019-09-01" in text
    assert "--symbol SYMBOL the USD-M symbol" in text  # no "(default: None)" after it


def test_the_status_help_names_every_exit_1() -> None:
    """The README's exit statuses of --status: 1 is also a running daemon whose trouble has not
    cleared (an order in doubt, no reconciliation), even HALTED or REDUCING; the help said only
    "stuck or died", so a monitor written from it read such a 1 as a dead daemon."""
    text = " ".join(cli.build_parser().format_help().split())

    assert "an order in doubt for over 60 s" in text
    assert "no reconciliation for 3 intervals + 60 s" in text


def test_the_env_file_help_says_an_attached_exchange_needs_keys_too() -> None:
    """A local run attached with [endpoints] refuses to start without keys; the help said they
    were needed for testnet and live only."""
    text = " ".join(cli.build_parser().format_help().split())

    assert "needed for testnet, live and an exchange attached with [endpoints]" in text


def test_the_fees_help_says_one_value_sets_both() -> None:
    """`--fees 0.0002` charged takers 0.0002 as well (the week's sma_crossover paid 13.39
    USDT of fees, not 33.47): the help named only MAKER,TAKER, so one value read as the maker's
    alone, and the run as cheaper than Binance's taker fee makes it."""
    text = " ".join(backtest_trading_strategy.parser().format_help().split())

    assert "or one FEE for both (--fees 0.0002 charges takers 0.0002 too)" in text
