"""No secret in a log line, an exception message or a repr."""

import io
import json
import logging
import pickle

import pytest

from runtime.log_setup import configure_logging
from runtime.secrets import Secret
from runtime.settings import load_settings

KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
SIGNATURE = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
LISTEN_KEY = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"


# The loggers configure_logging sets a level on (the root and the chatty libraries).
CONFIGURED = ("", "websockets", "aiohttp.access", "asyncio", "urllib3")


@pytest.fixture
def configure():
    """configure_logging for one test, undone after it: the levels it set go back to what they
    were and the handlers it installed are removed, so that the tests this worker runs next
    see the default levels (a DEBUG root left here made websockets' lines reach another
    test's caplog)."""
    levels = {name: logging.getLogger(name).level for name in CONFIGURED}
    installed: list[logging.Handler] = []

    def configure(*args, **kwargs):
        redaction = configure_logging(*args, **kwargs)
        installed.extend(logging.getLogger().handlers)  # it removed every other one
        return redaction

    yield configure
    root = logging.getLogger()
    for handler in installed:
        root.removeHandler(handler)
        handler.close()
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def capture(tmp_path, configure):
    stream = io.StringIO()
    configure("DEBUG", log_dir=tmp_path, secrets=[KEY, SECRET], stream=stream)
    yield stream, tmp_path / "trading_engine.log"


def test_secret_repr_str_and_format_are_masked():
    secret = Secret(SECRET)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret:>20}", repr([secret])):
        assert SECRET not in text
    assert secret.reveal() == SECRET


def test_secret_cannot_be_pickled():
    with pytest.raises(TypeError):
        pickle.dumps(Secret(SECRET))


def test_settings_repr_and_exceptions_hide_secrets(monkeypatch):
    monkeypatch.setenv("BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
    settings = load_settings(None, env_file=None, overrides={"mode": "testnet"})
    assert SECRET not in repr(settings) and KEY not in repr(settings)
    try:
        raise RuntimeError(f"request failed with credentials {settings.api_secret}")
    except RuntimeError as e:
        assert SECRET not in str(e)


@pytest.mark.parametrize(
    "message",
    [
        f"GET /fapi/v1/order?symbol=BTCUSDT&timestamp=1&signature={SIGNATURE}",
        f"headers={{'X-MBX-APIKEY': '{KEY}'}}",
        f"secret loaded: {SECRET}",
        f"connecting to wss://fstream.binance.com/ws/{LISTEN_KEY}",
        f"listenKey={LISTEN_KEY}",
        f"api_secret={SECRET[:40]}",
        # the repr of python-binance's signed parameters; a combined-stream envelope of the
        # user stream (its stream name is the listenKey), as a skipped frame is quoted
        f"data=[('symbol', 'BTCUSDT'), ('timestamp', 1), ('signature', '{SIGNATURE}')]",
        f'unreadable user event skipped: {{"stream":"{LISTEN_KEY}","data":{{"e":"X"}}}}',
        # a key the filter was not told about (another account's, a listenKey made at run
        # time): 64 letters and digits
        f"key {KEY[::-1]} refused",
    ],
)
def test_log_lines_are_redacted_on_console_and_file(capture, message):
    stream, log_file = capture
    logging.getLogger("gateway").warning("%s", message)
    for handler in logging.getLogger().handlers:
        handler.flush()
    for text in (stream.getvalue(), log_file.read_text()):
        assert "<redacted>" in text
        for value in (KEY, SECRET, SIGNATURE, LISTEN_KEY, SECRET[:40], KEY[::-1]):
            assert value not in text


def test_tracebacks_are_redacted(capture):
    stream, _ = capture
    try:
        raise ValueError(f"bad signature={SIGNATURE} for key {KEY}")
    except ValueError:
        logging.getLogger("rest").exception("order failed")
    text = stream.getvalue()
    assert "Traceback" in text and "ValueError" in text
    assert SIGNATURE not in text and KEY not in text


def test_hex_digests_and_ordinary_values_are_left_alone(capture):
    stream, _ = capture
    digest = "ab" * 32  # a model file's SHA-256, say
    line = f"model sha256 {digest}; order bfd-12 BUY 0.002 BTCUSDT @ 94711.60 id 5000000008"
    logging.getLogger("model").info("%s", line)
    assert line in stream.getvalue()


def test_json_lines_are_valid_and_redacted(configure):
    stream = io.StringIO()
    configure("INFO", log_dir=None, json_lines=True, secrets=[SECRET], stream=stream)

    logging.getLogger("app").info("using %s", SECRET)

    entry = json.loads(stream.getvalue().strip())
    assert entry["level"] == "INFO" and entry["logger"] == "app"
    assert entry["message"] == "using <redacted>"
    assert entry["time"].endswith("Z")
