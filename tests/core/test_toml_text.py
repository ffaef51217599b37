"""`core.toml_text`: a value quoted as the user writes it in TOML, by hand."""

from decimal import Decimal

from core.toml_text import toml_key, toml_shown


def test_values_as_toml_writes_them():
    assert toml_shown("live\n") == '"live\\n"'
    assert toml_shown('a "b"') == '"a \\"b\\""'
    assert toml_shown(True) == "true"
    assert toml_shown(Decimal("1E+3")) == "1000"
    assert toml_shown(1.5) == "1.5"
    assert toml_shown(["BTCUSDT", 2]) == '["BTCUSDT", 2]'
    assert toml_shown({"fast": 3, "a b": "x"}) == '{fast = 3, "a b" = "x"}'


def test_keys_bare_when_they_can_be():
    assert toml_key("max_drawdown_pct") == "max_drawdown_pct"
    assert toml_key("a\nb") == '"a\\nb"'
