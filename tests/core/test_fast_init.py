"""`fast_init`: the same constructor as the dataclass one (signature, defaults, keyword-only
fields, `__post_init__`, frozen instances), for every record class of `core` it decorates and
for the records of the order path elsewhere (engine events, reports, user-stream records)."""

import dataclasses
import inspect
from decimal import Decimal

import pytest

from core import account, events, market, orders
from core.enums import OrderType, Side
from core.fast_init import fast_init
from core.orders import OrderRequest
from exchange_sim.engine import events as engine_events
from exchange_sim.engine import reports
from gateway import user_wire

# Outside `core`: the records one order makes on its way through the in-process venue.
_ORDER_PATH_RECORDS = [
    engine_events.OrderUpdate,
    engine_events.PositionState,
    engine_events.AccountUpdate,
    engine_events.AlgoUpdate,
    reports.OrderReport,
    reports.AlgoReport,
    reports.PositionReport,
    reports.AccountReport,
    user_wire.OrderUpdate,
    user_wire.AlgoUpdate,
]


def _decorated() -> list[type]:
    found = []
    for module in (account, events, market, orders):
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and obj.__module__ == module.__name__
                and dataclasses.is_dataclass(obj)
            ):
                found.append(obj)
    return found + _ORDER_PATH_RECORDS


@pytest.mark.parametrize("cls", _decorated(), ids=lambda c: c.__name__)
def test_every_core_record_keeps_the_dataclass_signature(cls: type) -> None:
    fields = dataclasses.fields(cls)
    reference = dataclasses.make_dataclass(  # what @dataclass alone makes of the same fields
        "Reference",
        [(f.name, f.type, dataclasses.field(default=f.default, kw_only=f.kw_only)) for f in fields],
        frozen=True,
        slots=True,
    )
    assert vars(cls)["__init__"].__qualname__ == f"{cls.__qualname__}.__init__"
    expected = inspect.signature(reference)
    got = inspect.signature(cls)
    assert [(p.name, p.kind, p.default) for p in got.parameters.values()] == [
        (p.name, p.kind, p.default) for p in expected.parameters.values()
    ]


def test_instances_equal_the_dataclass_ones_and_stay_frozen() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Slow:
        symbol: str
        qty: Decimal
        price: Decimal | None = None

    @fast_init
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Fast:
        symbol: str
        qty: Decimal
        price: Decimal | None = None

    slow = Slow(symbol="BTCUSDT", qty=Decimal("0.002"))
    fast = Fast(symbol="BTCUSDT", qty=Decimal("0.002"))
    assert (fast.symbol, fast.qty, fast.price) == (slow.symbol, slow.qty, slow.price)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.price = Decimal(1)  # type: ignore[misc]
    with pytest.raises(TypeError):
        Fast("BTCUSDT", Decimal(1))  # type: ignore[misc]  # keyword-only, as declared
    with pytest.raises(TypeError):
        Fast(symbol="BTCUSDT")  # type: ignore[call-arg]  # a field without default is required


def test_post_init_runs_and_replace_goes_through_it() -> None:
    seen: list[str] = []

    @fast_init
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        name: str

        def __post_init__(self) -> None:
            seen.append(self.name)

    dataclasses.replace(Checked("a"), name="b")
    assert seen == ["a", "b"]


def test_order_request_round_trips_and_hashes_as_before() -> None:
    a = OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.MARKET,
        quantity=Decimal("0.004"),
        client_order_id="b-1",
    )
    b = dataclasses.replace(a)
    assert a == b and hash(a) == hash(b) and a.reduce_only is False


def test_refuses_what_it_cannot_copy() -> None:
    @dataclasses.dataclass
    class Mutable:
        x: int

    with pytest.raises(TypeError, match="frozen dataclasses with slots"):
        fast_init(Mutable)

    @dataclasses.dataclass(frozen=True, slots=True)
    class WithFactory:
        x: list[int] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="no factories"):
        fast_init(WithFactory)


@pytest.mark.parametrize("cls", _decorated(), ids=lambda c: c.__name__)
def test_replace_equals_dataclasses_replace(cls: type) -> None:
    from core.fast_init import replace

    sample = {
        f.name: f.default if f.default is not dataclasses.MISSING else f"v-{f.name}"
        for f in dataclasses.fields(cls)
    }
    original = cls(**{k: v for k, v in sample.items()})
    changed = dict.fromkeys(list(sample)[:2], "changed")

    assert replace(original) == dataclasses.replace(original) == original
    assert replace(original, **changed) == dataclasses.replace(original, **changed)
    assert replace(original, **changed) is not original
    with pytest.raises(TypeError, match="unexpected field"):
        replace(original, not_a_field=1)


def test_replace_runs_post_init_and_falls_back_for_other_dataclasses() -> None:
    from core.fast_init import replace

    seen: list[int] = []

    @fast_init
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        n: int

        def __post_init__(self) -> None:
            seen.append(self.n)

    @dataclasses.dataclass(frozen=True)
    class Plain:
        n: int

    replace(Checked(1), n=2)
    assert seen == [1, 2]
    assert replace(Plain(1), n=3) == Plain(3)


@pytest.mark.parametrize("cls", _decorated(), ids=lambda c: c.__name__)
def test_instances_and_copies_are_of_their_own_class(cls: type) -> None:
    from core.fast_init import replace

    sample = {
        f.name: f.default if f.default is not dataclasses.MISSING else f"v-{f.name}"
        for f in dataclasses.fields(cls)
    }
    original = cls(**sample)

    assert type(original) is cls and type(replace(original)) is cls
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(original, next(iter(sample)), "changed")


def test_a_subclass_that_inherits_the_init_keeps_its_class() -> None:
    @fast_init
    @dataclasses.dataclass(frozen=True, slots=True)
    class Base:
        x: int

    class Sub(Base):
        __slots__ = ()

    sub = Sub(1)
    assert type(sub) is Sub and sub.x == 1


def test_a_field_named_as_the_generated_methods_locals_is_refused() -> None:
    # `__replace__` takes one keyword per field: a field called `_made` would be overwritten by
    # the copy under construction.
    with pytest.raises(TypeError, match="reserves the names"):

        @fast_init
        @dataclasses.dataclass(frozen=True, slots=True)
        class Clashing:
            _made: int


def test_replace_of_a_class_without_fields() -> None:
    from core.fast_init import replace

    @fast_init
    @dataclasses.dataclass(frozen=True, slots=True)
    class Empty:
        pass

    original = Empty()
    copy = replace(original)
    assert copy == original and copy is not original
    with pytest.raises(TypeError, match="unexpected field"):
        replace(original, n=1)
