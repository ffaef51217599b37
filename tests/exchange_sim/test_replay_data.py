"""The bundled data: on the instruments' grids, exact round trips, loaders' column contents."""

import gzip
from decimal import Decimal
from pathlib import Path

import pytest

from exchange_sim.replay import loaders
from exchange_sim.replay.catalog import bundled
from exchange_sim.replay.grid import DATA_DIR, format_units, load_grids, to_units

GRIDS = load_grids()


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with gzip.open(path, "rt") as fh:
        lines = fh.read().splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:] if line]


def _symbol_of(path: Path) -> str:
    return path.name.split("-")[0]


def test_instruments_cover_every_bundled_symbol():
    symbols = {_symbol_of(p) for p in DATA_DIR.glob("*/*.gz")}

    assert symbols <= set(GRIDS), symbols - set(GRIDS)


def test_bundled_data_stays_small():
    total = sum(p.stat().st_size for p in DATA_DIR.rglob("*") if p.is_file())

    assert total < 8_000_000


@pytest.mark.parametrize("path", sorted((DATA_DIR / "trades").glob("*.gz")), ids=lambda p: p.name)
def test_trade_prices_and_qtys_are_on_the_grid_and_render_back_exactly(path):
    grid = GRIDS[_symbol_of(path)]
    header, rows = _csv_rows(path)
    price_col, qty_col = header.index("price"), header.index("qty")

    rendered = [
        (grid.price_str(grid.parse_price(r[price_col])), grid.qty_str(grid.parse_qty(r[qty_col])))
        for r in rows
    ]

    assert rendered == [(r[price_col], r[qty_col]) for r in rows]


@pytest.mark.parametrize(
    "path", sorted((DATA_DIR / "bookticker").glob("*.gz")), ids=lambda p: p.name
)
def test_book_ticker_values_are_on_the_grid_and_render_back_exactly(path):
    grid = GRIDS[_symbol_of(path)]
    _, rows = _csv_rows(path)

    rendered = [
        [
            grid.price_str(grid.parse_price(r[1])),
            grid.qty_str(grid.parse_qty(r[2])),
            grid.price_str(grid.parse_price(r[3])),
            grid.qty_str(grid.parse_qty(r[4])),
        ]
        for r in rows
    ]

    assert rendered == [r[1:5] for r in rows]


@pytest.mark.parametrize("path", sorted((DATA_DIR / "klines").glob("*.gz")), ids=lambda p: p.name)
def test_kline_prices_and_volumes_are_on_the_grid(path):
    grid = GRIDS[_symbol_of(path)]
    _, rows = _csv_rows(path)

    for r in rows:
        for price in r[1:5]:
            assert Decimal(grid.price_str(grid.parse_price(price))) == Decimal(price)
        assert Decimal(grid.qty_str(grid.parse_qty(r[5]))) == Decimal(r[5])


@pytest.mark.parametrize("path", sorted((DATA_DIR / "raw_ws").glob("*.gz")), ids=lambda p: p.name)
def test_raw_ws_depth_levels_are_on_the_grid(path):
    grid = GRIDS[_symbol_of(path)]
    capture = loaders.load_raw_ws(path, GRIDS, _symbol_of(path))
    levels = {lv for s in capture.snapshots for lv in s.bids + s.asks}
    levels |= {lv for u in capture.depth_updates for lv in u.bids + u.asks}

    # every distinct (price, qty) string pair: parsing raises if off the grid
    rendered = {
        (grid.price_str(grid.parse_price(p)), grid.qty_str(grid.parse_qty(q))) for p, q in levels
    }

    assert len(levels) > 10_000
    assert rendered == levels


def test_trades_csv_loads_ids_times_and_sides():
    path = DATA_DIR / "trades/BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz"

    tape = loaders.load_trades_csv(path, GRIDS["BTCUSDT"])

    assert len(tape) == 21313
    assert (tape.trade_id[0], tape.trade_id[-1]) == (5266583935, 5266605247)
    # first row: 5266583935,61800.30,0.006,1723161256322,1723161256322,false,MARKET,...
    assert GRIDS["BTCUSDT"].price_str(tape.price[0]) == "61800.30"
    assert GRIDS["BTCUSDT"].qty_str(tape.qty[0]) == "0.006"
    assert (int(tape.time[0]), bool(tape.buyer_maker[0])) == (1723161256322, False)


def test_raw_ws_capture_yields_each_message_kind():
    path = DATA_DIR / "raw_ws/BTCUSDT-um-ws-raw-2023-04-04T2358_2359.jsonl.gz"

    capture = loaders.load_raw_ws(path, GRIDS, "BTCUSDT")

    counts = (
        len(capture.snapshots),
        len(capture.depth_updates),
        len(capture.book_ticker),
        len(capture.trades),
        len(capture.mark_prices),
    )
    assert counts == (1, 4322, 6765, 2197, 99)
    assert capture.snapshots[0].last_update_id == 2710246765483
    assert capture.mark_prices.mark_price[0] == Decimal("28147.27373413")


def test_raw_ws_depth_pu_chain_has_no_breaks():
    ups = bundled("btcusdt-2024-08-08").depth_updates["BTCUSDT"]

    breaks = [
        i for i in range(1, len(ups)) if ups[i].prev_final_update_id != ups[i - 1].final_update_id
    ]
    assert len(ups) == 6551
    assert breaks == []


def test_six_column_klines_load_without_details():
    path = DATA_DIR / "klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"

    bars = loaders.load_klines_csv(path, GRIDS["BTCUSDT"])

    assert len(bars) == 7 * 1440
    assert not bars.has_details
    assert int(bars.open_time[0]) == 1746403200000  # 2025-05-05T00:00Z
    assert (bars.open_time[1:] - bars.open_time[:-1] == 60_000).all()


def test_twelve_column_klines_load_all_columns(tmp_path):
    # Binance archive layout; the row is the docs example of section 5.6 moved onto BTCUSDT's grid.
    path = tmp_path / "BTCUSDT-1m.csv"
    path.write_text(
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
        "taker_buy_quote_volume,ignore\n"
        "1716000000000,67000.00,67012.50,66990.10,67005.40,84.312,1716000059999,5649338.11760,"
        "2311,41.020,2748614.90480,0\n"
    )
    grid = GRIDS["BTCUSDT"]

    bars = loaders.load_klines_csv(path, grid)

    assert bars.has_details
    assert grid.quote_str(bars.quote_volume[0]) == "5649338.11760"
    assert (int(bars.trade_count[0]), grid.qty_str(bars.taker_buy_volume[0])) == (2311, "41.020")


def test_funding_rates_parse_exponent_floats_exactly():
    path = DATA_DIR / "funding/BTCUSDT-um-8h-funding_rate-2025-03-06_2025-06-03.csv.gz"

    rates = loaders.load_funding_csv(path, "BTCUSDT")

    # first rows: 1741276800000,6.818e-05 / 1741305600000,-6.12e-06
    assert rates.rate[:2] == (Decimal("0.00006818"), Decimal("-0.00000612"))
    assert len(rates) == 266


@pytest.mark.parametrize(
    ("text", "decimals", "units"),
    [
        ("61800.30", 2, 6180030),
        ("0.006", 3, 6),
        ("6.818e-05", 8, 6818),
        ("-0.5", 1, -5),
        ("7", 2, 700),
    ],
)
def test_to_units_parses_fixed_and_exponent_notation(text, decimals, units):
    assert to_units(text, decimals) == units


def test_to_units_rejects_values_finer_than_the_decimals():
    with pytest.raises(ValueError):
        to_units("61800.305", 2)


def test_format_units_never_uses_exponent_notation():
    assert [format_units(1, 8), format_units(-6180030, 2), format_units(5, 0)] == [
        "0.00000001",
        "-61800.30",
        "5",
    ]


def test_off_grid_price_is_rejected():
    with pytest.raises(ValueError):
        GRIDS["BTCUSDT"].parse_price("61800.35")  # tick is 0.10
