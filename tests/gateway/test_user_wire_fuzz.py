"""A user-stream event that is not what Binance sends is a MalformedMessage, whatever is wrong.

`test_user_wire.py` checks each field's refusal by hand. Here hypothesis takes the real
examples (tests/fixtures/binance_api/ws_user and the upstream-constructed ORDER_TRADE_UPDATEs)
and breaks them: a field, at any depth, deleted or given a JSON value of another kind (null,
a number, a string, a list, an object, a boolean). `parse_user_event` must return an event or
raise MalformedMessage: the user stream then logs one precise line (`LiveVenue._on_frame`)
instead of "unreadable user event" with a traceback.
"""

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.user_wire import MalformedMessage, parse_user_event

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance_api"


def _event(path: Path) -> dict[str, Any]:
    """The event object of a recorded frame (a combined stream's `data`)."""
    frame = json.loads(path.read_text())
    return frame["data"] if "stream" in frame else frame


EXAMPLES = [
    _event(p)
    for p in sorted(
        [
            *(FIXTURES / "ws_user").glob("*.json"),
            *(FIXTURES / "upstream_constructed").glob("ORDER_TRADE_UPDATE__*.json"),
        ]
    )
]
LEVERAGE = {"BTCUSDT": 5}

_JSON = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),  # JSON has no NaN; orjson refuses it before parsing
    st.text(max_size=12),
    st.sampled_from(["", "0", "-1", "1e400", "NaN", "BTCUSDT", "NEW", "FILLED", "BUY", "x"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key / index path in a decoded JSON value."""
    out: list[tuple[Any, ...]] = []
    if isinstance(node, dict | list):
        for key, child in node.items() if isinstance(node, dict) else enumerate(node):
            out.append((*prefix, key))
            out.extend(_paths(child, (*prefix, key)))
    return out


@st.composite
def _broken(draw: st.DrawFn) -> dict[str, Any]:
    event = copy.deepcopy(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(event)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = event
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(_JSON)
    return event


def test_the_examples_parse():
    for example in EXAMPLES:
        parse_user_event(example, 1, LEVERAGE)


@settings(max_examples=1_500, deadline=None)
@given(_broken())
def test_a_broken_event_is_an_event_or_a_malformed_message(event):
    try:
        parse_user_event(event, 1, LEVERAGE)
    except MalformedMessage as e:
        assert str(e) and "\n" not in str(e)


@pytest.mark.parametrize("top", [None, 1, "x", [], [{}]])
def test_a_frame_that_is_no_event_object_is_a_malformed_message(top):
    with pytest.raises(MalformedMessage):
        parse_user_event({"e": top}, 1, LEVERAGE)


@pytest.mark.parametrize("status", [[], {}, 1, None, True])
def test_an_order_status_that_is_no_text_is_a_malformed_message(status):
    """Found by the fuzzer above in a CI run: a list as `X` raised TypeError (unhashable) in
    the test of the exchange's own statuses, before the status was checked to be text."""
    event = copy.deepcopy(next(e for e in EXAMPLES if e["e"] == "ORDER_TRADE_UPDATE"))
    event["o"]["X"] = status
    with pytest.raises(MalformedMessage, match="X"):
        parse_user_event(event, 1, LEVERAGE)
