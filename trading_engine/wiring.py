"""The settings made into the daemon's objects (the start-up's order and its side jobs, such
as closing and recording, stay the daemon's): the books restored from the journal, the client
order ids, the market-data stream, the venue restored from the journal, the ExecManager."""

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from book_keeper.book_keeper import BookKeeper
from book_keeper.checkpoint import Replay
from book_keeper.journal import SqliteJournal
from core.clock import Clock
from core.instrument import Instrument
from core.orders import ClientOrderIds
from gateway.checkpoint import FileCheckpoint
from gateway.data_stream import DataStream, StreamConfig
from gateway.main_gateway import ExecutorConfig, LiveVenue
from gateway.market_rest import MarketDataRest
from rest_connect.connection import RestConnection
from risk_manager.risk_manager import RiskManager
from runtime.settings import Settings
from trading_engine.exec_manager import BarSource, ExecConfig, ExecManager
from trading_engine.item_sink import ItemSink
from trading_engine.main_trading_strategy import TradingStrategy
from trading_engine.relay import Relay


def restored_books(
    s: Settings, instruments: dict[str, Instrument], clock: Clock, journal: SqliteJournal
) -> tuple[BookKeeper, Replay]:
    """The books from the newest checkpoint, then the rows after it; checkpointed from here
    on. The replay tells what else the start-up restores."""
    book = BookKeeper(
        starting_balances=None,
        instruments=instruments,
        clock=clock,
        leverage=dict.fromkeys(s.symbols, s.risk.leverage),
    )
    replay = book.restore(journal)
    book.journal_extremes(journal)  # a restart keeps this run's peak and max drawdown
    journal.keep_checkpoints(replay, every_records=s.execution.journal_checkpoint_records)
    return book, replay


def client_ids(s: Settings, journal: SqliteJournal, replay: Replay) -> ClientOrderIds:
    """`<prefix>-<tag>-<n>`, n after the journal's last: the journal's tag keeps its ids apart
    from an earlier journal's on the same account (core.orders.ClientOrderIds)."""
    prefix, tag = s.execution.client_id_prefix, journal.client_id_tag
    stem = ClientOrderIds.stem_of(prefix, tag)
    return ClientOrderIds(prefix, replay.max_client_seq(journal, stem) + 1, tag=tag)


def market_stream(
    s: Settings, ws_url: str, market_rest: MarketDataRest, clock: Clock, sink: ItemSink
) -> DataStream:
    """The market-data stream of `symbols`, its checkpoint in journal_dir; klines of the
    strategy's interval when the bars come from the exchange, else trades (1m)."""
    klines = BarSource(s.execution.bar_source) is BarSource.KLINES
    return DataStream(
        ws_url=ws_url,
        rest=market_rest,
        symbols=list(s.symbols),
        clock=clock,
        checkpoint=FileCheckpoint(Path(s.journal_dir) / "stream"),
        config=StreamConfig(
            kline_interval=s.strategy.bar_interval if klines else "1m", klines=klines
        ),
        sink=sink,
    )


def restored_venue(
    s: Settings,
    *,
    ws_url: str,
    rest: RestConnection,
    instruments: dict[str, Instrument],
    clock: Clock,
    journal: SqliteJournal,
    book: BookKeeper,
    replay: Replay,
    listener: Relay,
) -> LiveVenue:
    """The venue, told what the journal knows: the orders open, the trades seen, since when
    funding and fills of orders not ours are to be read."""
    venue = LiveVenue(
        rest=rest,
        ws_url=ws_url,
        symbols=list(s.symbols),
        instruments=instruments,
        clock=clock,
        journal=journal,
        listener=listener,
        config=ExecutorConfig(
            deadman_countdown_ms=s.execution.deadman_countdown_ms,
            deadman_refresh_s=s.execution.deadman_refresh_s,
            reconcile_interval_s=s.execution.reconcile_interval_s,
            recv_window_ms=s.execution.recv_window_ms,
            client_id_prefix=s.execution.client_id_prefix,
        ),
    )
    last_record_ms = replay.last_record_ms(journal)
    venue.restore(
        journal.open_orders(),
        trade_ids=journal.open_order_trade_ids(),
        # each symbol's last journaled fill: its trade id resumes the reads, and the account's
        # trades must still hold it (a reset account's do not: the start is refused)
        last_fills={sym: fill for sym in s.symbols if (fill := journal.last_fill(sym))},
        funding_since_ms=last_record_ms,
        funding_booked=book.funding_settlements,
        # fills of orders not ours made while no daemon ran are booked at the start,
        # those it had in its books told by the exchange's trade ids and times
        outside_since_ms=last_record_ms,
        seen_trade_ids=journal.last_snapshot_trade_ids(),
        seen_until_ms=journal.last_exchange_ms(),
        taken_over=journal.taken_over_qtys(),
    )
    return venue


def restored_exec_manager(
    s: Settings,
    *,
    venue: LiveVenue,
    book: BookKeeper,
    risk: RiskManager,
    strategy: TradingStrategy,
    journal: SqliteJournal,
    clock: Any,
    instruments: dict[str, Instrument],
    ids: ClientOrderIds,
    gap_open: Callable[[str], bool],
    clock_offset: Callable[[], int],
) -> ExecManager:
    """The ExecManager (`clock`: the daemon's, or a recorded session's), each symbol's last
    exit restored: a position its stop closed stays flat across a restart."""
    exec_manager = ExecManager(
        venue=venue,
        book=book,
        risk=risk,
        strategy=strategy,
        journal=journal,
        clock=clock,
        instruments=instruments,
        ids=ids,
        config=ExecConfig(
            symbols=tuple(s.symbols),
            bar_interval=s.strategy.bar_interval,
            bar_source=BarSource(s.execution.bar_source),
            stale_order_ms=s.risk.stale_order_ms,
            reentry_hold=s.risk.reentry_hold,
            max_strategy_call_ms=Decimal(s.strategy.max_call_ms),
        ),
        gap_open=gap_open,
        clock_offset_ms=clock_offset,
        # A new drawdown peak is journaled (a balance snapshot): a restart keeps it.
        journal_peak=lambda: book.record_snapshot(journal, soon=True),
    )
    for symbol in s.symbols:
        if (last := journal.last_fill_order(symbol)) is not None:
            exec_manager.restore_exit(symbol, *last)
    return exec_manager
