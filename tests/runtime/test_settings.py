import os
import tomllib
from dataclasses import fields
from decimal import Decimal
from pathlib import Path

import pytest

from runtime.settings import ConfigError, Settings, describe, load_settings

ROOT = Path(__file__).resolve().parents[2]
KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_need_no_file_and_no_keys(tmp_path):
    settings = load_settings(None, env_file=tmp_path / "none.env")
    assert settings.mode == "local" and settings.symbols == ("BTCUSDT",)
    assert settings.api_key is None


def test_example_config_documents_every_setting_with_its_default():
    raw = tomllib.loads((ROOT / "config.example.toml").read_text())
    defaults = Settings()
    for f in fields(Settings):
        if f.metadata.get("secret"):
            continue
        assert f.name in raw, f"config.example.toml lacks {f.name}"
        value = getattr(defaults, f.name)
        if hasattr(value, "__dataclass_fields__"):
            for sub in fields(value):
                assert sub.name in raw[f.name], f"config.example.toml lacks {f.name}.{sub.name}"
                expected = getattr(value, sub.name)
                written = raw[f.name][sub.name]
                if isinstance(expected, Decimal):  # money: compare as written, not as a float
                    written = Decimal(str(written))
                assert written == expected, f"{f.name}.{sub.name}"
    assert load_settings(ROOT / "config.example.toml", env_file=None) == defaults


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[risk]\nmax_drawdown_pct = 150\n",
            "risk.max_drawdown_pct = 150 is not allowed: expected a percentage in (0, 100)",
        ),
        ('mode = "paper"\n', 'mode = "paper" is not allowed: expected one of local, testnet, live'),
        (
            "[risk]\nleverage = 2.5\n",
            "risk.leverage = 2.5 is not allowed: expected an integer from 1 to 125",
        ),
        (
            '[logging]\njson = "yes"\n',
            'logging.json = "yes" is not allowed: expected true or false',
        ),
        (
            "[risk]\nreentry_hold = 1\n",
            "risk.reentry_hold = 1 is not allowed: expected true or false",
        ),
        ('symbols = ["BTC-USDT"]\n', 'symbols = ["BTC-USDT"] is not allowed'),
        ("[risk]\nmax_drawdwn_pct = 5\n", "unknown setting 'risk.max_drawdwn_pct'"),
        ("[risk\n", "not valid TOML"),
        ('api_key = "abc"\n', "API keys are not read from config files"),
        ("risk = 3\n", "risk must be a table"),
        (
            "[retention]\nearlier_runs = -1\n",
            "retention.earlier_runs = -1 is not allowed: expected an integer >= 0 (0 = keep all)",
        ),
    ],
)
def test_bad_values_give_one_line_naming_key_value_and_allowed(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env_file=None)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("balance", ["1e30", "1e15", "0.000000001", '"100.123456789"'])
def test_a_starting_balance_the_local_exchange_cannot_hold_is_refused(tmp_path, balance):
    """It passed --check-config, then the embedded exchange refused its `--balance`: the start
    failed naming a flag the user never typed."""
    text = f"[local]\nstarting_balance_usdt = {balance}\n"

    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env_file=None)

    assert str(err.value).endswith(
        "is not allowed: expected a USDT amount > 0, below 1e15, to at most 8 decimals"
    )


@pytest.mark.parametrize(
    ("balance", "argument"),
    [("2500.5", "2500.5"), ('"999999999999999.99999999"', "999999999999999.99999999"),
     ('"100.000000000"', "100"), ("1e4", "10000")],
)  # fmt: skip
def test_a_starting_balance_is_given_to_the_local_exchange_as_it_takes_it(
    tmp_path, balance, argument
):
    from exchange_sim.__main__ import build_parser
    from runtime.exchange_process import LocalExchangeProcess

    settings = load_settings(
        write(tmp_path, f"[local]\nstarting_balance_usdt = {balance}\n"), env_file=None
    )
    process = LocalExchangeProcess(
        data="klines-week",
        symbols=("BTCUSDT",),
        speed=1.0,
        port=0,
        balance=settings.local.starting_balance_usdt,
        log_dir=tmp_path,
    )
    given = process.args[process.args.index("--balance") + 1]

    assert given == argument
    assert build_parser().parse_args(["--balance", given]).balance == Decimal(argument)


def test_an_integer_setting_beyond_64_bits_is_refused(tmp_path):
    """TOML reads integers of any size: `stale_order_ms = 10**22` passed --check-config and
    the daemon's start died writing its session recording ("Integer exceeds 64-bit range",
    "unexpected error, please report it")."""
    text = "[risk]\nstale_order_ms = 10000000000000000000000\n"

    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env_file=None)

    assert str(err.value) == (
        "risk.stale_order_ms = 10000000000000000000000 is not allowed: expected milliseconds "
        ">= 1000, at most 9223372036854775807 (a 64-bit integer)"
    )


def test_the_largest_64_bit_integer_is_allowed(tmp_path):
    text = "[risk]\nstale_order_ms = 9223372036854775807\n"

    assert load_settings(write(tmp_path, text), env_file=None).risk.stale_order_ms == 2**63 - 1


def test_a_dead_man_refresh_slower_than_half_its_countdown_is_refused(tmp_path):
    """Refreshed every 30 s, a 10 s countdown ran out between refreshes: the exchange
    cancelled every open order of a daemon that was running fine (seen on the local
    exchange: a resting LIMIT CANCELED 12 s after an unrefreshed countdownCancelAll 10000)."""
    text = "[execution]\ndeadman_countdown_ms = 10000\ndeadman_refresh_s = 30\n"

    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env_file=None)

    assert str(err.value) == (
        "execution.deadman_refresh_s = 30.0 is not allowed with execution.deadman_countdown_ms "
        "= 10000: expected at most half the countdown (5 s), or the exchange cancels our open "
        "orders whenever it runs out between two refreshes, the daemon running"
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("heartbeat_s", "0.001", "seconds >= 0.5"),  # a line and a status.json a millisecond
        ("reconcile_interval_s", "0.001", "seconds >= 1"),  # REST weight a millisecond
    ],
)
def test_heartbeats_and_reconciliations_have_a_floor(tmp_path, key, value, expected):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, f"[execution]\n{key} = {value}\n"), env_file=None)

    assert str(err.value).startswith(f"execution.{key} = {value} is not allowed: expected ")
    assert expected in str(err.value)
    at_floor = "[execution]\nheartbeat_s = 0.5\nreconcile_interval_s = 1\n"
    execution = load_settings(write(tmp_path, at_floor), env_file=None).execution
    assert (execution.heartbeat_s, execution.reconcile_interval_s) == (0.5, 1)


@pytest.mark.parametrize(("countdown_ms", "refresh_s"), [(10000, 5), (60000, 10), (0, 3600)])
def test_a_dead_man_refresh_within_half_its_countdown_or_switched_off_is_allowed(
    tmp_path, countdown_ms, refresh_s
):
    text = f"[execution]\ndeadman_countdown_ms = {countdown_ms}\ndeadman_refresh_s = {refresh_s}\n"

    settings = load_settings(write(tmp_path, text), env_file=None)

    assert settings.execution.deadman_refresh_s == refresh_s


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[risk]\nkill_switch_file = "~/KILL"\n', "risk.kill_switch_file"),
        ('journal_dir = "~/KILL"\n', "journal_dir"),
        ('[logging]\ndir = "~/KILL"\n', "logging.dir"),
    ],
)
def test_a_path_starting_with_a_tilde_is_refused_naming_the_home_path(tmp_path, text, key):
    """No shell reads the config: `kill_switch_file = "~/KILL"` named ./~/KILL, so touching
    ~/KILL halted nothing; a journal or log dir so named was made as a directory `~`."""
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env_file=None)

    home = os.path.expanduser("~/KILL")
    assert str(err.value) == (
        f'{key} = "~/KILL" is not allowed: a leading ~ is not expanded (no shell reads this '
        f"file): write {home}"
    )


def test_a_tilde_inside_a_path_is_a_plain_character(tmp_path):
    text = '[risk]\nkill_switch_file = "stop~now"\n'

    assert load_settings(write(tmp_path, text), env_file=None).risk.kill_switch_file == "stop~now"


@pytest.mark.parametrize("speed", ["1e308", "1.5e12"])
def test_a_replay_speed_beyond_what_the_local_exchange_replays_is_refused(tmp_path, speed):
    """`speed = 1e308` passed `--check-config`; the embedded exchange's replay then died on an
    OverflowError (its log's traceback) and the daemon ran on with no market data."""
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, f"[local]\nspeed = {speed}\n"), env_file=None)

    assert str(err.value) == (
        f"local.speed = {float(speed)!r} is not allowed: expected a replay speed > 0, "
        "at most 1e+12 (1 = real time)"
    )


def test_the_largest_replay_speed_is_allowed(tmp_path):
    settings = load_settings(write(tmp_path, "[local]\nspeed = 1e12\n"), env_file=None)

    assert settings.local.speed == 1e12


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            f'[endpoints]\nrest_url = "{SECRET}"\n',
            'endpoints.rest_url = "<not shown: looks like a secret>" is not allowed: expected an '
            "http(s) URL with a host and no query or fragment, or empty for the mode's default",
        ),
        (
            f'[endpoints]\nrest_url = "http://127.0.0.1:8080"\nws_url = "wss:{SECRET}"\n',
            'endpoints.ws_url = "<not shown: looks like a secret>" is not allowed: expected a '
            "ws(s) URL with a host and no query or fragment, or empty for the mode's default",
        ),
        (
            f'symbols = ["BTCUSDT", "{KEY}"]\n',
            'symbols = ["BTCUSDT", "<not shown: looks like a secret>"] is not allowed: expected '
            "a non-empty list of symbols of 5 to 20 letters or digits (any case) such as "
            '["BTCUSDT"]',
        ),
        (
            f'[risk]\nleverage = "{SECRET}"\n',
            'risk.leverage = "<not shown: looks like a secret>" is not allowed: expected an '
            "integer from 1 to 125",
        ),
        (f"{SECRET} = 1\n", "unknown setting '<not shown: looks like a secret>' (known here: "),
    ],
)
def test_a_secret_pasted_into_the_wrong_field_is_named_but_not_echoed(tmp_path, text, line):
    """An API secret pasted into a URL or symbol field was echoed to the terminal (and to
    whatever captured it: a CI log, a pasted issue). The key and what is wrong are still said."""
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env_file=None)

    assert str(err.value).startswith(line)
    assert SECRET not in str(err.value) and KEY not in str(err.value)
    assert SECRET[10:30] not in str(err.value) and KEY[20:40] not in str(err.value)


@pytest.mark.parametrize(
    ("endpoints", "line"),
    [
        (
            {"rest_url": "http://127.0.0.1:8080", "ws_url": "http://127.0.0.1:8080"},
            'endpoints.ws_url = "http://127.0.0.1:8080" is not allowed: expected a ws(s) URL',
        ),
        (
            {"rest_url": "ws://127.0.0.1:8080", "ws_url": "ws://127.0.0.1:8080"},
            'endpoints.rest_url = "ws://127.0.0.1:8080" is not allowed: expected an http(s) URL',
        ),
        (
            {"rest_url": "http://127.0.0.1:8080"},
            'endpoints.ws_url = "" is not allowed with endpoints.rest_url set: attaching to an '
            "exchange needs its websocket URL too",
        ),
        (
            {"ws_url": "ws://127.0.0.1:8080"},
            'endpoints.ws_url = "ws://127.0.0.1:8080" is not allowed without endpoints.rest_url',
        ),
    ],
)
def test_endpoint_urls_are_checked_without_keys(endpoints, line):
    # A wrong scheme was only said once the keys were there (and a ws:// REST URL after them).
    with pytest.raises(ConfigError) as err:
        load_settings(None, env_file=None, overrides={"endpoints": endpoints}, needs_keys=False)
    assert str(err.value).startswith(line)


WS_EXPECTED = (
    "is not allowed: expected a ws(s) URL with a host and no query or fragment, or empty for "
    "the mode's default; "
)


@pytest.mark.parametrize(
    ("ws_url", "why"),
    [
        (
            "ws://127.0.0.1:8080#live",
            "the daemon appends its stream paths to it, which a query (?...) or a fragment "
            "(#...) would swallow",
        ),
        (
            "ws://127.0.0.1:8080/ws?x=1",
            "the daemon appends its stream paths to it, which a query (?...) or a fragment "
            "(#...) would swallow",
        ),
        (
            "ws://trader@127.0.0.1:8080",
            "the websocket library refuses it (username provided without password)",
        ),
    ],
    ids=["fragment", "query", "user_without_password"],
)
def test_a_ws_url_the_daemon_could_never_connect_to_is_a_config_error(ws_url, why):
    """Such a URL passed the check and failed the start: a fragment, which the websocket
    library refuses, failed the user stream (REDUCING journaled, its reason holding the URL
    with the listenKey) and the start with exit 1 (`cannot reach the exchange`), which a
    supervisor retried without end; a query swallowed the stream paths appended to it (HTTP
    404). Now the config check says so: exit 2, before anything starts."""
    endpoints = {"rest_url": "http://127.0.0.1:8080", "ws_url": ws_url}
    with pytest.raises(ConfigError) as err:
        load_settings(None, env_file=None, overrides={"endpoints": endpoints}, needs_keys=False)
    shown = ws_url.replace("trader", "<redacted>") if "@" in ws_url else ws_url
    assert str(err.value) == f'endpoints.ws_url = "{shown}" {WS_EXPECTED}{why}'


@pytest.mark.parametrize(
    "ws_url",
    ["ws://127.0.0.1:8080", "wss://fstream.example.com/ws/", "ws://trader:pw@127.0.0.1:8080"],
)
def test_a_ws_url_with_a_path_or_a_password_is_taken(ws_url):
    endpoints = {"rest_url": "http://127.0.0.1:8080", "ws_url": ws_url}
    settings = load_settings(
        None, env_file=None, overrides={"endpoints": endpoints}, needs_keys=False
    )
    assert settings.endpoints.ws_url == ws_url


REST_EXPECTED = (
    "is not allowed: expected an http(s) URL with a host and no query or fragment, or empty "
    "for the mode's default; the daemon appends its API paths (/fapi/...) to it, which a "
    "query (?...) or a fragment (#...) would swallow"
)


@pytest.mark.parametrize(
    "rest_url",
    [
        "http://127.0.0.1:8080?x=1",
        "https://proxy.example.com/binance/?k=v",
        "http://127.0.0.1:8080#a",
    ],
    ids=["query", "query_after_a_path", "fragment"],
)
def test_a_rest_url_with_a_query_or_a_fragment_is_a_config_error(rest_url):
    """As for ws_url (2e1acb8): every request is `<rest_url>/fapi/...`, which a query or a
    fragment swallows (`http://host/?x=1/fapi/v1/time` asks `/`), so the check took it and the
    start failed to reach the exchange (exit 1, retried by a supervisor without end)."""
    endpoints = {"rest_url": rest_url, "ws_url": "ws://127.0.0.1:8080"}
    with pytest.raises(ConfigError) as err:
        load_settings(None, env_file=None, overrides={"endpoints": endpoints}, needs_keys=False)
    assert str(err.value) == f'endpoints.rest_url = "{rest_url}" {REST_EXPECTED}'


@pytest.mark.parametrize(
    "rest_url", ["http://127.0.0.1:8080", "https://proxy.example.com/binance/", "http://a:b@h:1"]
)
def test_a_rest_url_with_a_path_or_a_password_is_taken(rest_url):
    endpoints = {"rest_url": rest_url, "ws_url": "ws://127.0.0.1:8080"}
    settings = load_settings(
        None, env_file=None, overrides={"endpoints": endpoints}, needs_keys=False
    )
    assert settings.endpoints.rest_url == rest_url


def test_missing_config_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env_file=None)


def test_flags_override_the_file(tmp_path):
    path = write(tmp_path, 'symbols = ["ETHUSDT"]\n[logging]\nlevel = "WARNING"\n')
    settings = load_settings(
        path, env_file=None, overrides={"symbols": ["btcusdt"], "logging": {"level": "DEBUG"}}
    )
    assert settings.symbols == ("BTCUSDT",)
    assert settings.logging.level == "DEBUG"


def test_a_symbol_named_twice_is_traded_once(tmp_path):
    """`--symbol BTCUSDT --symbol ETHUSDT,BTCUSDT` was BTCUSDT, ETHUSDT, BTCUSDT: the local
    exchange then refused to start with "BTCUSDT: history overlaps bars already in the
    store"."""
    path = write(tmp_path, 'symbols = ["ETHUSDT", "ETHUSDT"]\n')

    from_file = load_settings(path, env_file=None)
    from_flags = load_settings(
        path, env_file=None, overrides={"symbols": ["BTCUSDT", "ETHUSDT", "btcusdt"]}
    )

    assert from_file.symbols == ("ETHUSDT",)
    assert from_flags.symbols == ("BTCUSDT", "ETHUSDT")


def test_a_log_level_in_lower_case_is_read_as_the_flag_reads_it(tmp_path):
    """`--log-level debug` was accepted and `level = "debug"` in the file refused."""
    path = write(tmp_path, '[logging]\nlevel = "debug"\n')
    assert load_settings(path, env_file=None).logging.level == "DEBUG"
    with pytest.raises(ConfigError) as refused:
        load_settings(write(tmp_path, '[logging]\nlevel = "verbose"\n'), env_file=None)
    assert str(refused.value) == (
        'logging.level = "verbose" is not allowed: expected one of DEBUG, INFO, WARNING, ERROR '
        "(any case)"
    )


def test_symbols_are_read_in_any_case_and_the_refusal_says_so(tmp_path):
    """A refused symbol was told "upper-case letters or digits" though `ethusdt` is read."""
    path = write(tmp_path, 'symbols = ["ethusdt"]\n')
    assert load_settings(path, env_file=None).symbols == ("ETHUSDT",)
    with pytest.raises(ConfigError) as refused:
        load_settings(write(tmp_path, 'symbols = ["btc"]\n'), env_file=None)
    assert str(refused.value) == (
        'symbols = ["btc"] is not allowed: expected a non-empty list of symbols of 5 to 20 '
        'letters or digits (any case) such as ["BTCUSDT"]'
    )


def test_testnet_reads_keys_from_env_file(tmp_path, monkeypatch):
    monkeypatch.delenv("BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("BINANCE_API_SECRET", raising=False)
    env = tmp_path / ".env"
    env.write_text(f"BINANCE_API_KEY={KEY}\nBINANCE_API_SECRET={SECRET}\n")
    settings = load_settings(None, env_file=env, overrides={"mode": "testnet"})
    assert settings.api_key.reveal() == KEY
    assert settings.rest_url == "https://testnet.binancefuture.com"


def test_environment_wins_over_env_file(tmp_path, monkeypatch):
    other = "A" * 64
    monkeypatch.setenv("BINANCE_API_KEY", other)
    monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
    env = tmp_path / ".env"
    env.write_text(f"BINANCE_API_KEY={KEY}\n")
    settings = load_settings(None, env_file=env, overrides={"mode": "testnet"})
    assert settings.api_key.reveal() == other


def test_missing_keys_for_testnet_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.delenv("BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("BINANCE_API_SECRET", raising=False)
    with pytest.raises(ConfigError, match="BINANCE_API_KEY is not set"):
        load_settings(None, env_file=tmp_path / "none.env", overrides={"mode": "testnet"})


def test_malformed_key_is_reported_without_quoting_it(tmp_path, monkeypatch):
    bad = "not-a-key-" + SECRET[:20]
    monkeypatch.setenv("BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", bad)
    with pytest.raises(ConfigError) as err:
        load_settings(None, env_file=None, overrides={"mode": "live"})
    assert "BINANCE_API_SECRET does not look like a Binance key" in str(err.value)
    assert bad not in str(err.value) and SECRET[:20] not in str(err.value)


def test_describe_masks_secrets(monkeypatch):
    monkeypatch.setenv("BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
    settings = load_settings(None, env_file=None, overrides={"mode": "testnet"})
    text = "\n".join(describe(settings))
    assert KEY not in text and SECRET not in text
    assert "api_key = ****Eh8A" in text and "api_secret = ****" in text


def test_local_mode_attaching_to_an_exchange_needs_keys(tmp_path):
    overrides = {
        "endpoints": {"rest_url": "http://127.0.0.1:8080", "ws_url": "ws://127.0.0.1:8080"}
    }
    with pytest.raises(ConfigError, match=r"BINANCE_API_KEY is not set: endpoints.rest_url"):
        load_settings(None, env_file=tmp_path / "none.env", overrides=overrides)


def test_money_settings_are_exact_decimals(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        "[risk]\nmax_order_notional_usdt = 12.34\n[strategy]\norder_notional_usdt = 0.1\n"
    )
    settings = load_settings(config, env_file=None)
    assert settings.risk.max_order_notional_usdt == Decimal("12.34")
    assert settings.strategy.order_notional_usdt == Decimal("0.1")


@pytest.mark.parametrize(
    "prefix", ["my-bot", "my bot", "bot:1", "bötli", "autoclose", "adl_autoclose2"]
)
def test_a_client_id_prefix_the_order_ids_refuse_is_a_config_error(tmp_path, prefix):
    """It once passed validation and `--check-config`, then the daemon died with a traceback
    after connecting to the exchange (core.orders.ClientOrderIds refused it)."""
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, f'[execution]\nclient_id_prefix = "{prefix}"\n'), None)
    assert str(err.value) == (
        f'execution.client_id_prefix = "{prefix}" is not allowed: '
        "expected 1-20 letters, digits, '_' or '.' (not the exchange's own autoclose, "
        "adl_autoclose...)"
    )


def test_every_client_id_prefix_the_settings_accept_makes_order_ids(tmp_path):
    from core.orders import ClientOrderIds

    for prefix in ["bfd", "My_Bot.2", "x" * 20]:
        settings = load_settings(write(tmp_path, f'[execution]\nclient_id_prefix = "{prefix}"\n'))
        assert ClientOrderIds(settings.execution.client_id_prefix).next() == f"{prefix}-1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[risk]\nmax_position_notional_usdt = 300\n",
            "risk.max_position_notional_usdt = 300 is not allowed: expected at least "
            "risk.max_order_notional_usdt (500) and at most risk.max_total_notional_usdt (2000)",
        ),
        (
            "[risk]\nmax_total_notional_usdt = 800\n",
            "risk.max_position_notional_usdt = 1000 is not allowed: expected at least "
            "risk.max_order_notional_usdt (500) and at most risk.max_total_notional_usdt (800)",
        ),
        (
            "[strategy]\norder_notional_usdt = 5000\n",
            "strategy.order_notional_usdt = 5000 is not allowed: expected at most "
            "risk.max_order_notional_usdt (500): a larger order is always denied",
        ),
        (
            "[risk]\nstop_loss_pct = 100\n",
            "risk.stop_loss_pct = 100 is not allowed: expected a percentage in (0, 100)",
        ),
        (
            "[risk]\nmax_drawdown_pct = 100\n",
            "risk.max_drawdown_pct = 100 is not allowed: expected a percentage in (0, 100)",
        ),
        (
            "[risk]\nmax_daily_loss_pct = 100\n",
            "risk.max_daily_loss_pct = 100 is not allowed: expected a percentage in [0, 100) "
            "(0 = off: the USDT limit alone)",
        ),
        (
            "[risk]\ntake_profit_pct = 100\n",
            "risk.take_profit_pct = 100 is not allowed: expected a percentage in [0, 100) "
            "(0 = none)",
        ),
    ],
)
def test_risk_settings_the_risk_manager_refuses_are_config_errors(tmp_path, text, message):
    """These once passed validation and `--check-config`; the daemon then died with a
    ValueError traceback after connecting to the exchange (risk_manager.config.RiskConfig), or,
    for an order above the order cap, silently had every entry denied."""
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env_file=None)
    assert str(err.value) == message


def test_every_risk_setting_the_settings_accept_makes_a_risk_config(tmp_path):
    from runtime.settings import risk_config

    text = (
        "[risk]\nmax_order_notional_usdt = 1000\nmax_position_notional_usdt = 1000\n"
        "max_total_notional_usdt = 1000\nstop_loss_pct = 99.9\nmax_drawdown_pct = 99.9\n"
        "take_profit_pct = 99.9\n[strategy]\norder_notional_usdt = 1000\n"
    )
    risk_config(load_settings(write(tmp_path, text), env_file=None))  # does not raise


def test_every_limit_the_risk_manager_enforces_by_default_is_a_setting():
    """The daemon trades under `risk_config(settings)`: a RiskConfig field the settings do not
    set keeps RiskConfig's own default, unseen in config.example.toml and `--check-config`.
    `max_daily_loss_pct` (5 %) was one: a 1,000 USDT account halted after a 50 USDT loss
    with `max_daily_loss_usdt = 300` configured. The fields below are the only ones left to
    RiskConfig, each on purpose."""
    from dataclasses import fields

    from risk_manager.config import RiskConfig
    from runtime.settings import RiskSettings

    not_settings = {f.name for f in fields(RiskConfig)} - {f.name for f in fields(RiskSettings)}
    # 0 (no reserve) and one minute, as Binance's own rate windows
    assert not_settings == {"min_available_margin_usdt", "circuit_breaker_window_ms"}


def test_the_daily_loss_percentage_is_read_and_reaches_the_risk_manager(tmp_path):
    from runtime.settings import risk_config

    assert risk_config(load_settings(write(tmp_path, ""), env_file=None)).max_daily_loss_pct == 5
    settings = load_settings(write(tmp_path, "[risk]\nmax_daily_loss_pct = 0\n"), env_file=None)
    assert risk_config(settings).max_daily_loss_pct == 0  # off: the USDT limit alone
    settings = load_settings(write(tmp_path, "[risk]\nmax_daily_loss_pct = 2.5\n"), env_file=None)
    assert str(risk_config(settings).max_daily_loss_pct) == "2.5"


def test_a_bar_interval_binance_has_no_kline_stream_for_needs_trade_bars(tmp_path):
    """USD-M Futures serve no `<symbol>@kline_1s` stream (nor 1s REST klines): with the default
    bar_source = "klines" the DataStream subscribed to it, Binance (and the local exchange)
    acknowledged it and never sent a bar, and the strategy silently never traded."""
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, '[strategy]\nbar_interval = "1s"\n'), env_file=None)
    assert str(err.value) == (
        'strategy.bar_interval = "1s" is not allowed with execution.bar_source = "klines": '
        'Binance serves no 1s kline stream; set execution.bar_source = "trades" or use one of '
        "1m, 3m, 5m, 15m, 30m, 1h"
    )
    text = '[strategy]\nbar_interval = "1s"\n[execution]\nbar_source = "trades"\n'
    assert load_settings(write(tmp_path, text), env_file=None).strategy.bar_interval == "1s"


@pytest.mark.parametrize(
    ("name", "shown", "not_shown"),
    [
        ("sma_crossover", ["fast_period", "slow_period"], ["model_path", "rsi_period", "params"]),
        ("rsi_macd", ["rsi_period", "macd_signal"], ["fast_period", "model_path", "params"]),
        (
            "logistic_regression",
            ["model_path", "entry_probability", "log_features"],
            ["fast_period", "rsi_period", "params"],
        ),
        # a strategy of your own reads [strategy.params]: no built-in strategy's keys
        ("my_strategies:Mine", ["params"], ["fast_period", "model_path", "rsi_period"]),
    ],
)
def test_check_config_shows_the_strategy_keys_the_configured_strategy_reads(
    tmp_path, name, shown, not_shown
):
    """Every key of StrategySettings is one strategy's (STRATEGY_KEYS) or every strategy's
    (name, the bars, the order size, the call budget...), which each shows."""
    config = tmp_path / "config.toml"
    config.write_text(f'[strategy]\nname = "{name}"\n')
    keys = {
        line.split(" = ")[0].removeprefix("strategy.")
        for line in describe(load_settings(config, env_file=None))
        if line.startswith("strategy.")
    }
    common = {"name", "bar_interval", "allow_short", "order_notional_usdt", "max_call_ms"}
    assert keys >= common | set(shown)
    assert not keys & set(not_shown)


def test_strategy_keys_name_fields_of_the_strategy_section_for_each_built_in_strategy():
    from dataclasses import fields

    from runtime.settings import STRATEGY_KEYS, StrategySettings
    from trading_engine.main_trading_strategy import STRATEGIES

    assert set(STRATEGY_KEYS) == set(STRATEGIES)
    names = {f.name for f in fields(StrategySettings)}
    assert all(set(keys) <= names for keys in STRATEGY_KEYS.values())


def test_describe_says_a_percent_setting_is_in_percent(tmp_path):
    """`stop_loss_pct = 0.05` (a fraction typed by habit) is 0.05 %: --check-config says so
    beside the value, where a user checks what the daemon will do."""
    config = tmp_path / "config.toml"
    config.write_text("[risk]\nstop_loss_pct = 0.05\n")
    lines = describe(load_settings(config, env_file=None))
    assert "risk.stop_loss_pct = 0.05 (0.05 %)" in lines
    assert "risk.max_drawdown_pct = 10 (10 %)" in lines  # the default
    assert "risk.max_daily_loss_usdt = 300" in lines  # not a percent: no unit
