"""The daemon's command line: flags, and their mapping onto settings overrides."""

import argparse
import math
from pathlib import Path
from typing import Any

from runtime.flags import OneLineParser, nonempty_path
from runtime.settings import LOG_LEVELS, MODES

DEFAULT_CONFIG = Path("config.toml")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="app.py",
        description=(
            "Event-driven trading daemon for Binance USD-M Futures. By default it runs against "
            "the embedded local exchange replaying bundled real market data: no keys needed."
        ),
        epilog=(
            "Settings come from config.toml (see config.example.toml), API keys from .env "
            "(see .env.example); flags override both."
        ),
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        help="where to trade: local = the embedded local exchange, no keys needed (or the "
        "one [endpoints] rest_url names, with its keys); testnet = Binance's futures testnet; "
        "live = real money (needs --confirm-live); default: the config's mode, else local",
    )
    parser.add_argument(
        "--config",
        type=nonempty_path,
        metavar="PATH",
        help=f"settings file, TOML (default: {DEFAULT_CONFIG} in the working directory if it "
        "exists, else the built-in defaults, those of config.example.toml)",
    )
    parser.add_argument(
        "--env-file",
        type=nonempty_path,
        metavar="PATH",
        help="file with BINANCE_API_KEY and BINANCE_API_SECRET, needed for testnet, live and "
        "an exchange attached with [endpoints] (default: .env in the working directory if it "
        "exists, else the environment)",
    )
    parser.add_argument(
        "--symbol",
        action="append",
        metavar="SYMBOL",
        help="symbol to trade, e.g. BTCUSDT; repeat or comma-separate for several (default: "
        "the config's symbols, else BTCUSDT)",
    )
    parser.add_argument(
        "--duration",
        type=duration,
        metavar="SECONDS",
        help="stop as on Ctrl+C after this many seconds (default: the config's duration_s, "
        "else 0 = run until stopped)",
    )
    parser.add_argument(
        "--log-level",
        type=log_level,
        choices=LOG_LEVELS,
        help="level of the console and the log file, in any case (debug = DEBUG; default: the "
        "config's [logging] level, else INFO)",
    )
    parser.add_argument(
        "--log-json",
        action="store_true",
        help="log lines as JSON objects, on the console and in the log file (default: text, "
        "unless the config's [logging] json is true)",
    )
    parser.add_argument(
        "--keep-orders",
        action="store_true",
        help="on stop, leave the working orders on the exchange (default: cancel them; a "
        "position left open keeps its stop-loss / take-profit either way)",
    )
    parser.add_argument(
        "--reset-halt",
        action="store_true",
        help="operator reset: a daemon whose journal says HALTED or REDUCING (a loss limit, "
        "the circuit breaker, the kill switch, a liquidation) starts ACTIVE again; refused "
        "while the kill-switch file exists",
    )
    # Two actions, one run: `--status --check-config` did the status and dropped the check.
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--status",
        action="store_true",
        help="say whether the daemon of this config runs, and its equity, position and "
        "orders (from <journal_dir>/status.json); exit 0 running, 1 stuck or died, or "
        "running with trouble that has not cleared (an order in doubt for over 60 s, or no "
        "reconciliation for 3 intervals + 60 s; also when HALTED/REDUCING), "
        "2 cannot read it (not a directory, another user's files), "
        "3 stopped, 4 running but not trading (still starting, or HALTED/REDUCING); "
        "sends nothing, needs no keys",
    )
    action.add_argument(
        "--check-config",
        action="store_true",
        help="validate the settings, print the effective values (secrets masked) and exit "
        "(sends nothing)",
    )
    parser.add_argument(
        "--confirm-live",
        action="store_true",
        help="required with --mode live: you accept that real orders are sent",
    )
    return parser


def log_level(text: str) -> str:
    """`--log-level`'s value in any case, as `[logging] level` is read: upper-cased before
    argparse checks it against the choices --help lists. A refused value is quoted as typed
    (`'verbose'`, not the `'VERBOSE'` nobody wrote)."""
    level = text.upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {', '.join(LOG_LEVELS)}, in any case)"
        )
    return level


def duration(text: str) -> float:
    """`--duration`'s value, checked here by the config's rule for `duration_s` (seconds,
    finite, >= 0), so that a refusal names the flag the user typed: checked by the settings,
    it read `config error: duration_s = -1.0 is not allowed`, a key nobody had written."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not (math.isfinite(seconds) and seconds >= 0):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not allowed: expected seconds >= 0 (0 = run until stopped)"
        )
    return seconds


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Only the flags the user gave, in the config-file shape."""
    out: dict[str, Any] = {}
    if args.mode:
        out["mode"] = args.mode
    if args.symbol:
        out["symbols"] = [s for item in args.symbol for s in item.split(",") if s.strip()]
    if args.duration is not None:
        out["duration_s"] = args.duration
    logging_section: dict[str, Any] = {}
    if args.log_level:
        logging_section["level"] = args.log_level
    if args.log_json:
        logging_section["json"] = True
    if logging_section:
        out["logging"] = logging_section
    return out


def config_path_from_args(args: argparse.Namespace) -> Path | None:
    if args.config is not None:
        return args.config
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None
