"""Entry point of the trading daemon: `python app.py --help`.

Validates the configuration (config.toml, .env, flags), then runs the daemon
(`trading_engine.daemon`): DataStream -> ExecManager -> BookKeeper / RiskManager /
TradingStrategy -> TradeExecutor, against the embedded local exchange by default.
`--check-config` only prints the effective settings (secrets masked) and exits; `--status`
says whether the daemon of this configuration runs, and how it is doing (`runtime.status_file`).

Exit status: 0 after a clean stop, 2 for a configuration mistake, 1 when the venue cannot be
used (bad keys, unreachable); each with one line on stderr, never a traceback.
"""
# ruff: noqa: E402  (the stop signals' handler goes in before the imports, which take time)

import signal
import sys


def _stopped_before_start(signum: int, _frame: object) -> None:
    """SIGTERM / SIGHUP while the imports and the settings are read, before the daemon's own
    handlers are in place (a second or two on a loaded machine): nothing was started, so
    there is nothing to stop; exit 0 as after a clean stop, not the default death by the
    signal (status -15, a supervisor's "failed")."""
    print(
        f"stopped during start-up ({signal.Signals(signum).name}): nothing was started",
        flush=True,
    )
    sys.exit(0)


for _stop_signal in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_stop_signal, _stopped_before_start)

import argparse
import asyncio
import logging
import os
from pathlib import Path

from core.atomic_file import keep_new_files_private, write_problem
from runtime.cli import build_parser, config_path_from_args, overrides_from_args
from runtime.log_setup import FILE_ONLY, RedactionFilter, configure_logging
from runtime.settings import ConfigError, Settings, describe, load_settings, risk_config

log = logging.getLogger("app")


def check_local_venue(settings: Settings) -> None:
    """In local mode the data set must exist and hold every configured symbol."""
    if settings.attaches:
        return
    from exchange_sim.replay.catalog import BUNDLED, spec_from_directory

    name = settings.local.data
    if name in BUNDLED:
        available = BUNDLED[name].symbols
    else:
        try:
            available = spec_from_directory(name).symbols
        except (OSError, ValueError):
            raise ConfigError(
                f'local.data = "{name}" is not allowed: expected one of '
                f"{', '.join(sorted(BUNDLED))} or a directory laid out like exchange_sim/data"
            ) from None
    missing = [s for s in settings.symbols if s not in available]
    if missing:
        raise ConfigError(
            f"symbols: {', '.join(missing)} not in the local data set {name} "
            f"(it has {', '.join(available)})"
        )


def check_directories(settings: Settings) -> None:
    """journal_dir and logging.dir must be (or be creatable as) writable directories: said
    now, in one line, not as a traceback or an exchange error once the daemon runs."""
    dirs = (("journal_dir", settings.journal_dir), ("logging.dir", settings.logging.dir))
    for key, value in dirs:
        if problem := write_problem(Path(value)):
            raise ConfigError(f'{key} = "{value}" is not allowed: {problem}')


def check_strategy(settings: Settings) -> None:
    """Build the configured strategy once, as the daemon will (the model file read, the
    parameters checked), so that a bad `[strategy]` is a config error now, not after the
    exchange has started."""
    from runtime.settings import strategy_params
    from trading_engine.main_trading_strategy import StrategyLoadError, make_strategy

    st = settings.strategy
    params = strategy_params(settings, {})
    if st.name == "logistic_regression":  # no instruments here: the symbols said apart
        params["symbols"] = settings.symbols
    try:
        make_strategy(st.name, **params)
    except (OSError, ValueError) as e:
        if isinstance(e, OSError) or type(e).__name__ == "ModelMismatchError":
            raise ConfigError(f"strategy.model_path: {e}") from None  # the message names it
        named = isinstance(e, StrategyLoadError)  # its line names the strategy already
        raise ConfigError(str(e) if named else f"[strategy] {st.name}: {e}") from None


def check_risk(settings: Settings) -> None:
    """Build the RiskManager's limits once, as the daemon will: whatever they refuse is a config
    error now, not a traceback after the exchange has started."""
    try:
        risk_config(settings)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"[risk]: {e}") from None


def warn_if_shared(env_file: Path) -> None:
    """A keys file that other users of the machine can read (as ssh says of a private key)."""
    try:
        mode = env_file.stat().st_mode
    except OSError:
        return
    if mode & 0o077 and "BINANCE_API_" in env_file.read_text(errors="replace"):
        print(
            f"warning: {env_file} holds API keys and other users can read it "
            f"(mode {mode & 0o777:o}): chmod 600 {env_file}",
            file=sys.stderr,
        )


def load(argv: list[str] | None = None, redaction: RedactionFilter | None = None) -> Settings:
    """Parse flags and build the settings; exits with status 2 on any user mistake.
    `redaction` learns the API keys as soon as they are read."""
    args = build_parser().parse_args(argv)
    if args.mode == "live" and not args.confirm_live:
        print(
            "error: --mode live sends real orders with real money; "
            "add --confirm-live if that is what you want",
            file=sys.stderr,
        )
        sys.exit(2)
    try:
        env_file = args.env_file
        if env_file is not None and not env_file.is_file():
            raise ConfigError(f"--env-file {env_file} does not exist")
        env_file = env_file if env_file is not None else Path(".env")
        settings = load_settings(
            config_path=config_path_from_args(args),
            env_file=env_file,
            overrides=overrides_from_args(args),
        )
        warn_if_shared(env_file)
        if redaction is not None:
            redaction.add_secrets(_secrets(settings))
        check_local_venue(settings)
        check_directories(settings)
        check_risk(settings)
        check_strategy(settings)
        return settings
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        sys.exit(2)


def show_status(args: argparse.Namespace) -> int:
    """`--status`: read `<journal_dir>/status.json` and the journal's lock; sends nothing."""
    from book_keeper.journal import journal_in_use
    from runtime.status_file import report

    try:
        settings = load_settings(
            config_path=config_path_from_args(args),
            env_file=None,
            overrides=overrides_from_args(args),
            needs_keys=False,
        )
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    journal_dir = settings.journal_dir
    status = report(journal_dir, journal_held=journal_in_use(journal_dir))
    print_lines(status.lines)
    return int(status.exit_status)


def print_lines(lines: list[str]) -> None:
    """Lines on stdout; a reader that goes away early (`| head -1`, `| grep -q running`) is
    fine: the exit status still says what it says, without a BrokenPipeError traceback."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing at exit either


def _secrets(settings: Settings) -> list[str]:
    return [s.reveal() for s in (settings.api_key, settings.api_secret) if s]


def main(argv: list[str] | None = None) -> int:
    redaction = RedactionFilter()
    try:
        return run(argv, redaction)
    except KeyboardInterrupt:  # Ctrl+C before the daemon's own handler is in place
        print("interrupted: nothing was started", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: Python would print its traceback past the redaction
        if not logging.getLogger().handlers:  # before the logs were set up: the console only
            configure_logging(log_dir=None, redaction=redaction)
        log.critical("unexpected error, please report it: %s", exc, exc_info=exc)
        return 1


def run(argv: list[str] | None = None, redaction: RedactionFilter | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.status:
        return show_status(args)
    # The journal, status.json, the logs (ours and the local exchange's) and the market
    # recordings hold account data: readable by this user only, on a shared machine too.
    keep_new_files_private()
    settings = load(argv, redaction)
    redaction = configure_logging(
        level=settings.logging.level,
        # --check-config writes no log file: beside a running daemon, its line could rotate
        # the daemon's file under it (two RotatingFileHandlers on one file).
        log_dir=None if args.check_config else Path(settings.logging.dir),
        json_lines=settings.logging.json,
        secrets=_secrets(settings),
        redaction=redaction,
    )
    log.info("configuration valid: mode=%s symbols=%s", settings.mode, ",".join(settings.symbols))
    if args.check_config:
        print_lines(["Effective settings:", *(f"  {line}" for line in describe(settings))])
        return 0
    from trading_engine.daemon import Daemon, DaemonError

    try:
        daemon = Daemon(
            settings,
            keep_orders=args.keep_orders,
            reset_halt=args.reset_halt,
            add_secrets=redaction.add_secrets,
        )
        return asyncio.run(daemon.run())
    except DaemonError as e:
        log.error("%s", e, extra=FILE_ONLY)
        print(f"error: {redaction.redact(str(e))}", file=sys.stderr)  # as the log line says it
        return 1
    except KeyboardInterrupt:  # a second Ctrl+C during shutdown
        return 130


if __name__ == "__main__":
    sys.exit(main())
