"""The backtest command's flag values read and checked before anything runs: numbers, fees,
times, the output and journal folders; UsageError in one line for a bad one."""

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path

from backtest.journal_folder import journal_folder_problem
from core.clock import parse_utc_ms


class UsageError(Exception):
    """A bad flag or input: said in one line on stderr, exit status 2."""


def _time_ms(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_utc_ms(text)
    except ValueError as e:
        raise UsageError(str(e)) from None


MAX_FEE = Decimal("0.01")  # 1 %: ten times Binance's highest taker fee
MAX_SLIPPAGE_BPS = Decimal(10_000)  # 100 %


def _number(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UsageError(f"bad {what} {text!r}: expected a number") from None
    if not value.is_finite():
        raise UsageError(f"bad {what} {text!r}: expected a number")
    return value


def non_negative(text: str, what: str, *, most: Decimal | None = None) -> Decimal:
    """A number >= 0 (and <= `most`)."""
    value = _number(text, what)
    if value < 0 or (most is not None and value > most):
        bound = "" if most is None else f" and <= {most}"
        raise UsageError(f"bad {what} {text!r}: expected a number >= 0{bound}")
    return value


# More USDT than exist: a larger balance or size only overflows the Decimal arithmetic of the
# books and the exchange (28 digits) in the middle of the run.
MAX_USDT = Decimal(10**12)


def positive_usdt(text: str, what: str) -> Decimal:
    """A number > 0 (a balance, a size: 0 trades nothing) and <= MAX_USDT."""
    value = _number(text, what)
    if value <= 0 or value > MAX_USDT:
        raise UsageError(f"bad {what} {text!r}: expected a number > 0 and <= {MAX_USDT:,} USDT")
    return value


def _fee(text: str, *, maker: bool) -> Decimal:
    """One fee fraction: < 0.01 (a percentage given by mistake is refused), >= 0, or > -0.01
    for a maker rebate."""
    value = _number(text, "--fees")
    percent = f"{(value * 100).normalize():f}"
    if value >= MAX_FEE:
        raise UsageError(
            f"bad --fees {text!r}: fees are fractions ({text} is {percent} %; "
            "0.0002 is 0.02 %), expected < 0.01"
        )
    if value < 0 and not maker:
        raise UsageError(f"bad --fees {text!r}: a taker fee is >= 0 (only makers get rebates)")
    if value <= -MAX_FEE:
        raise UsageError(f"bad --fees {text!r}: a maker rebate is > -0.01 ({percent} %)")
    return value


def maker_taker_fees(text: str) -> tuple[Decimal, Decimal]:
    """ "0.0004" (both) or "maker,taker" as fractions (0.0002 = 0.02 %); a negative maker fee
    is a rebate (`--fees -0.0001,0.0005`, see `backtest_trading_strategy._glue_negative_fees`)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (1, 2):
        raise UsageError(f"bad --fees {text!r}: expected FEE or MAKER,TAKER")
    if len(parts) == 1:
        fee = _fee(parts[0], maker=False)
        return fee, fee
    return _fee(parts[0], maker=True), _fee(parts[1], maker=False)


def check_out_folder(text: str, flag: str = "--out") -> None:
    """--out must be a folder that exists or can be made, writable; checked before the run
    (which can take minutes) and without leaving anything behind."""
    out = Path(text)
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"{flag} {out} exists and is not a folder")
        if not os.access(out, os.W_OK | os.X_OK):
            raise UsageError(f"{flag} {out}: the folder is not writable")
        return
    made: list[Path] = []
    try:
        for folder in reversed([out, *out.parents]):
            if not folder.exists():
                folder.mkdir()
                made.append(folder)
    except OSError as e:
        raise UsageError(f"{flag} {out}: cannot create the folder ({e.strerror})") from None
    finally:
        for folder in reversed(made):
            folder.rmdir()


def check_journal_folder(text: str) -> None:
    """--journal takes a new or empty folder, or one an earlier backtest wrote (its journal is
    replaced). A journal no backtest wrote (a daemon's) is refused before the run: this run's
    records would be mixed into it, its fills and orders kept where their ids repeat; so is a
    folder of other files (`journal_folder_problem`), left as it was."""
    check_out_folder(text, "--journal")
    if (problem := journal_folder_problem(Path(text))) is not None:
        raise UsageError(f"--journal {text} {problem}")


def time_window(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    """--start and --end as ms; the end after the start."""
    start_ms, end_ms = _time_ms(start), _time_ms(end)
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise UsageError(f"--end must be after --start (got --start {start} --end {end})")
    return start_ms, end_ms
