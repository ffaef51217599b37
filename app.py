"""Entry point of the trading daemon: `python app.py --help`.

Validates the configuration (config.toml, .env, flags), then runs the daemon
(`trading_engine.daemon`): DataStream -> ExecManager -> BookKeeper / RiskManager /
TradingStrategy -> TradeExecutor, against the embedded local exchange by default.
`--check-config` only prints the effective settings (secrets masked) and exits; `--status`
says whether the daemon of this configuration runs, and how it is doing (`runtime.status_file`).

Exit status: 0 after a clean stop, 2 for a configuration mistake, 1 when the venue cannot be
used (bad keys, unreachable) or journal_dir's journal cannot be continued (in use, another
exchange's, written by a newer version); each with one line on stderr, never a traceback.
"""
# ruff: noqa: E402  (the stop signals' handler goes in before the imports, which take time)

import signal
import sys

_stopped_early: list[str] = []  # the stop signal that came before the daemon's handlers


def _stopped_before_start(signum: int, _frame: object) -> None:
    """SIGTERM / SIGHUP while the imports and the settings are read, before the daemon's own
    handlers are in place (a second or two on a loaded machine): nothing was started, so
    there is nothing to stop; exit 0 as after a clean stop, not the default death by the
    signal (status -15, a supervisor's "failed").

    The SystemExit is raised wherever the main thread is; when that is a weakref callback
    (the import system's module locks have one) Python prints "Exception ignored" and goes
    on, so the stop is also noted, and `run` looks at it before it starts the daemon."""
    name = signal.Signals(signum).name
    if not _stopped_early:
        _stopped_early.append(name)
        print(f"stopped during start-up ({name}): nothing was started", flush=True)
    sys.exit(0)


def _unraisable(event: "sys.UnraisableHookArgs") -> None:
    """That swallowed SystemExit is said by the stop's line, not as a traceback on stderr."""
    if not isinstance(event.exc_value, SystemExit):
        sys.__unraisablehook__(event)


def _interrupted_before_start(_signum: int, _frame: object) -> None:
    """Ctrl+C while app.py imports its modules (before `main` catches KeyboardInterrupt):
    the line and the status `main` gives a Ctrl+C before the daemon starts, not a traceback
    through the import system and death by the signal. Noted as the stop signals are."""
    if not _stopped_early:
        _stopped_early.append("SIGINT")
        print("interrupted: nothing was started", file=sys.stderr, flush=True)
    sys.exit(130)


sys.unraisablehook = _unraisable
for _stop_signal in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_stop_signal, _stopped_before_start)
# Only where Ctrl+C would interrupt anyway: a SIGINT ignored by the parent (`nohup`, a
# background job of a script) stays ignored.
if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _interrupted_before_start)

import argparse
import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from core.atomic_file import directory_problem, keep_new_files_private, write_problem
from core.redaction import one_line, shown_path
from core.toml_text import toml_shown
from runtime.cli import build_parser, config_path_from_args, overrides_from_args
from runtime.flags import print_lines
from runtime.log_setup import FILE_ONLY, RedactionFilter, configure_logging
from runtime.settings import (
    ConfigError,
    Settings,
    describe,
    load_settings,
    risk_config,
    shown_setting,
)
from trading_engine.kill_switch import file_exists, reset_refused

if signal.getsignal(signal.SIGINT) is _interrupted_before_start:  # `main` takes it from here
    signal.signal(signal.SIGINT, signal.default_int_handler)

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
                f"local.data = {toml_shown(name)} is not allowed: expected one of "
                f"{', '.join(sorted(BUNDLED))} or a directory laid out like exchange_sim/data"
            ) from None
    missing = [s for s in settings.symbols if s not in available]
    if missing:
        raise ConfigError(
            f"symbols: {', '.join(missing)} not in the local data set {name} "
            f"(it has {', '.join(available)})"
        )


def check_directories(settings: Settings) -> None:
    """journal_dir and logging.dir must be (or be creatable as) writable directories, and the
    files the daemon opens there for writing writable by this user (a first run under sudo
    leaves them root's): said now, in one line, not as a traceback or an exchange error once
    the daemon runs."""
    from book_keeper.journal_files import writer_files
    from runtime.log_setup import LOG_FILE_NAME

    journal_dir, log_dir = Path(settings.journal_dir), Path(settings.logging.dir)
    dirs = (
        ("journal_dir", journal_dir, writer_files(journal_dir)),
        ("logging.dir", log_dir, (log_dir / LOG_FILE_NAME,)),
    )
    for key, value, files in dirs:
        if problem := write_problem(value) or next(filter(None, map(open_problem, files)), None):
            raise ConfigError(f"{key} = {toml_shown(str(value))} is not allowed: {problem}")


def check_kill_switch(settings: Settings) -> None:
    """The kill switch is a file's existence: a directory there (`kill_switch_file = "."`)
    always exists, and every start halted at once ("kill switch: file . exists"); in a folder
    that does not exist (a typo) it can never be made, and nothing said so."""
    path = Path(settings.risk.kill_switch_file)
    if path.is_dir():
        raise ConfigError(
            f"risk.kill_switch_file = {toml_shown(str(path))} is not allowed: "
            f"{shown_path(path)} is a directory, which always exists: every start would halt; "
            "name a file that does not exist until you want trading stopped"
        )
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(
            f"risk.kill_switch_file = {toml_shown(str(path))} is not allowed: its folder "
            f"{shown_path(folder)} does not exist, so the file could never be made there and "
            "the kill switch could never be pulled: make the folder or name another"
        )


def open_problem(path: Path) -> str | None:
    """Why this user cannot open `path` (when it exists) for writing, or None."""
    try:
        with path.open("r+b"):
            return None
    except FileNotFoundError:
        return None
    except PermissionError:
        try:
            owner = f"; the file's owner is uid {path.stat().st_uid}"
        except OSError:
            owner = ""
        return (
            f"{shown_path(path)} is not writable by this user (uid {os.getuid()}{owner}): run "
            "the daemon as the user that made it, or give the files to this one"
        )
    except OSError as e:
        return f"{shown_path(path)} cannot be opened for writing: {e.strerror or e}"


def check_strategy(settings: Settings) -> None:
    """Build the configured strategy once, as the daemon will (the model file read, the
    parameters checked), so that a bad `[strategy]` is a config error now, not after the
    exchange has started."""
    from runtime.settings import strategy_params
    from trading_engine.main_trading_strategy import StrategyLoadError, make_strategy, named_once

    st = settings.strategy
    params = strategy_params(settings, {})
    if st.name == "logistic_regression":  # no instruments here: the symbols said apart
        params["symbols"] = settings.symbols
    try:
        make_strategy(st.name, **params)
    except (OSError, ValueError) as e:
        if isinstance(e, OSError) or type(e).__name__ == "ModelMismatchError":
            raise ConfigError(f"strategy.model_path: {e}") from None  # the message names it
        line = named_once(st.name, e)  # "strategy 'x.py:X': ..." alone, else under [strategy]
        raise ConfigError(
            line if isinstance(e, StrategyLoadError) else f"[strategy] {line}"
        ) from None


def own_strategy_defaults(settings: Settings) -> dict[str, Any]:
    """The parameter defaults of a strategy of one's own (its constructor's), for
    --check-config to show with `[strategy.params]`: {} for a shipped strategy."""
    from trading_engine.main_trading_strategy import STRATEGIES, strategy_factory
    from trading_engine.strategy_param_types import param_defaults

    if settings.strategy.name in STRATEGIES:
        return {}
    return param_defaults(strategy_factory(settings.strategy.name))


def strategy_determinism_notes(settings: Settings) -> list[str]:
    """What in the configured strategy's source reads the clock or an unseeded random
    generator (`trading_engine.strategy_determinism`), one line each: the warnings the
    daemon's start logs, shown by --check-config too."""
    from trading_engine.main_trading_strategy import strategy_factory
    from trading_engine.strategy_determinism import nondeterminism_notes

    name = settings.strategy.name
    return nondeterminism_notes(name, strategy_factory(name))


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
        if env_file is not None and env_file.is_dir():
            raise ConfigError(
                f"--env-file {env_file} is a directory: expected a file of lines "
                "BINANCE_API_KEY=... and BINANCE_API_SECRET=..."
            )
        if env_file is not None and not env_file.is_file():
            raise ConfigError(f"--env-file {shown_path(env_file)} does not exist")
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
        check_kill_switch(settings)
        check_risk(settings)
        check_strategy(settings)
        return settings
    except ConfigError as e:
        print(f"config error: {one_line(str(e))}", file=sys.stderr)
        sys.exit(2)


def show_status(args: argparse.Namespace) -> int:
    """`--status`: read `<journal_dir>/status.json` and the journal's lock; sends nothing.
    A journal_dir that is a file, or files this user may not read, or a journal a newer
    version of the daemon wrote (its format mark), are the user's mistake: one line and exit
    2, not "died" (1) or a traceback."""
    from book_keeper.journal_errors import JournalTooNew
    from book_keeper.journal_files import journal_in_use, lock_file
    from book_keeper.journal_format import check_readable
    from runtime.status_file import read_problem, report

    try:
        settings = load_settings(
            config_path=config_path_from_args(args),
            env_file=None,
            overrides=overrides_from_args(args),
            needs_keys=False,
        )
    except ConfigError as e:
        print(f"config error: {one_line(str(e))}", file=sys.stderr)
        return 2
    journal_dir = settings.journal_dir
    shown = shown_setting(journal_dir)  # as --check-config shows it (a pasted key is not)
    try:
        if problem := directory_problem(Path(journal_dir)):
            said = f"journal_dir = {toml_shown(shown)} is not allowed: {problem}"
            print(one_line(shown_setting(f"config error: {said}")), file=sys.stderr)
            return 2
        if problem := read_problem(journal_dir, lock_file(journal_dir)):
            print(f"error: {shown_setting(problem)}", file=sys.stderr)
            return 2
        # Its format mark only (no scan of the rows): a newer daemon's status.json may say
        # what this build would misreport.
        check_readable(journal_dir, values=False)
    except JournalTooNew as e:
        print(f"error: {shown_setting(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # a part of the path this user may not look into
        print(f"error: cannot read journal_dir = \"{shown}\": {e.strerror or e}",
              file=sys.stderr)  # fmt: skip
        return 2
    status = report(journal_dir, journal_held=journal_in_use(journal_dir))
    print_lines(status.lines)
    return int(status.exit_status)


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
    if args.reset_halt and (kill := settings.risk.kill_switch_file) and file_exists(kill):
        # Refused before anything is started, as the daemon would refuse it after its start
        # (the journal claimed, the local exchange up): the file would halt it again at once.
        print(f"error: {reset_refused(one_line(kill))}", file=sys.stderr)
        return 2
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
        shown = describe(settings, own_strategy_defaults(settings))
        print_lines(["Effective settings:", *(f"  {line}" for line in shown)])
        for note in strategy_determinism_notes(settings):  # as the daemon's start warns
            log.warning("%s", note)
        return 0
    from trading_engine.daemon import Daemon
    from trading_engine.daemon_error import DaemonError

    try:
        daemon = Daemon(
            settings,
            keep_orders=args.keep_orders,
            reset_halt=args.reset_halt,
            add_secrets=redaction.add_secrets,
        )
        if _stopped_early:  # a stop signal whose SystemExit was swallowed (see its handler)
            return 130 if _stopped_early[0] == "SIGINT" else 0
        return asyncio.run(daemon.run())
    except DaemonError as e:
        log.error("%s", e, extra=FILE_ONLY)
        print(f"error: {redaction.redact(str(e))}", file=sys.stderr)  # as the log line says it
        return int(e.failure)  # 2: a restart would fail the same way (StartFailure)
    except KeyboardInterrupt:  # after the daemon's handlers are gone: asyncio.run's teardown
        return 130


if __name__ == "__main__":
    sys.exit(main())
