"""`python app.py --check-config --config FILE` on config files hypothesis writes: the effective
settings (exit 0) or one `config error:` line (exit 2), never the "unexpected error" of a bug
(exit 1) or a traceback.

`test_settings_fuzz.py` throws values of any kind at `load_settings`; most stop at the first
type check. Here each setting gets a value of its own type (whole numbers, numbers, true or
false, text drawn from paths, names, URLs and odd strings), so that the files reach what
`app.load` checks after the settings are built: the local venue, the directories, the risk
limits together, the strategy and its model file.
"""

import json
import math
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import app
from runtime.settings import _SECTIONS, Settings

_TEXT = st.sampled_from(
    [
        "",
        " ",
        "BTCUSDT",
        "ETHUSDT",
        "btcusdt",
        "KILL",
        "journal",
        "logs",
        "/",
        "/proc/nope",
        "/etc/passwd",
        "no/such/dir",
        "models/btcusdt-1m",
        "models/none",
        "klines-week",
        "sma_crossover",
        "rsi_macd",
        "logistic_regression",
        "mine.py:Mine",
        "1m",
        "5m",
        "1h",
        "inside",
        "NORMAL",
        "FULL",
        "OFF",
        "klines",
        "trades",
        "INFO",
        "debug",
        "http://127.0.0.1:1",
        "https://fapi.binance.com",
        "ws://127.0.0.1:1/ws",
        "x" * 50,
        "é",
        "\n",
    ]
)
_INT = st.one_of(st.integers(-3, 3), st.integers(-(10**7), 10**7), st.sampled_from([0, 125]))
_FLOAT = st.one_of(
    _INT,
    st.floats(-1e6, 1e6),
    st.sampled_from([0.0, 0.5, 1e-9, 99.99, 100.0, math.inf]),
)


def _value_like(default: Any) -> st.SearchStrategy[Any]:
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        return _INT
    if isinstance(default, float):
        return _FLOAT
    if isinstance(default, tuple | list):
        return st.lists(_TEXT, max_size=3)
    if isinstance(default, dict):
        return st.dictionaries(st.sampled_from(["fast", "slow", "x"]), _INT, max_size=2)
    if isinstance(default, str):
        return _TEXT
    return st.one_of(_FLOAT, _TEXT)  # Decimal and others: a number, or text (refused)


def _default(f: Any) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory()


FIELDS: list[tuple[str | None, str, Any]] = [
    (None, f.name, _default(f))
    for f in fields(Settings)
    if f.name not in _SECTIONS and not f.metadata.get("secret")
] + [
    (section, f.name, _default(f))
    for section, cls in _SECTIONS.items()
    for f in fields(cls)
    if not f.metadata.get("secret")
]


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def _toml(items: list[tuple[str | None, str, Any]]) -> str:
    top = [f"{name} = {_toml_value(v)}" for section, name, v in items if section is None]
    tables: dict[str, list[str]] = {}
    for section, name, v in items:
        if section is not None:
            tables.setdefault(section, []).append(f"{name} = {_toml_value(v)}")
    lines = top + [line for s, body in tables.items() for line in (f"[{s}]", *dict.fromkeys(body))]
    return "\n".join(lines) + "\n"


@st.composite
def _files(draw: st.DrawFn) -> str:
    chosen = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4, unique_by=str))
    return _toml([(s, n, draw(_value_like(d))) for s, n, d in chosen])


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # journal_dir, logs and KILL land here
    return tmp_path


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=_files())
def test_check_config_gives_the_settings_or_one_config_error(in_tmp, capsys, text):
    config = in_tmp / "config.toml"
    config.write_text(text, encoding="utf-8")
    env = in_tmp / "empty.env"
    env.write_text("")
    capsys.readouterr()
    try:
        rc = app.main(["--check-config", "--config", str(config), "--env-file", str(env)])
    except SystemExit as e:
        rc = e.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out, (text, captured.err)
    assert rc in (0, 2), (text, rc, captured.err)
    if rc == 2:
        said = [line for line in captured.err.splitlines() if line.strip()]
        assert len(said) == 1 and said[0].startswith(("config error:", "error:")), said
    event(f"exit {rc}" if rc else "exit 0")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[local]\ndata = "a\\nb"\n', 'local.data = "a\\nb" is not allowed'),
        ('journal_dir = "/proc/a\\nb"\n', 'journal_dir = "/proc/a\\nb" is not allowed'),
        (
            '[strategy]\nname = "logistic_regression"\nmodel_path = "m\\nx"\n',
            "strategy.model_path: ",
        ),
        ('[local]\ndata = "\\u001b[2J"\n', 'local.data = "\\u001b[2J" is not allowed'),
    ],
)
def test_a_value_with_a_line_break_or_escape_is_said_on_one_line(in_tmp, capsys, text, says):
    """Found by the fuzzer above: the checks after the settings (the local data set, the
    directories, the model file) quoted the value as it was, a newline in it splitting the
    line and an escape sequence reaching the terminal."""
    config = in_tmp / "config.toml"
    config.write_text(text, encoding="utf-8")
    env = in_tmp / "empty.env"
    env.write_text("")
    with pytest.raises(SystemExit) as e:
        app.main(["--check-config", "--config", str(config), "--env-file", str(env)])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err.count("\n") == 1 and "\x1b" not in err, err
    assert says in err, err
