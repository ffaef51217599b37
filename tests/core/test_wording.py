"""Counts in words: singular for exactly one."""

from core.wording import counted


def test_one_is_singular_and_any_other_count_plural():
    assert [counted(n, "trade") for n in (0, 1, 2)] == ["0 trades", "1 trade", "2 trades"]


def test_an_irregular_plural_is_given():
    assert counted(2, "entry", "entries") == "2 entries"
    assert counted(1, "entry", "entries") == "1 entry"
