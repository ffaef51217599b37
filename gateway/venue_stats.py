"""The executor's counters (`LiveVenue.stats`), shared by the parts of the gateway that count.

Their own module so that `VenueSync` and the jobs it composes (`OutsideOrders`, `TakeOvers`)
count into one `VenueStats` without importing one another.
"""

from dataclasses import dataclass


@dataclass(slots=True)
class VenueStats:
    """Counters of the executor (`LiveVenue.stats`); each comment says what one counts."""

    submitted: int = 0
    rejected: int = 0
    unknown_outcomes: int = 0
    never_placed: int = 0  # unknown orders resolved as REJECTED (-2013 past recvWindow)
    cancels_sent: int = 0
    malformed_events: int = 0  # user-stream frames that did not parse (skipped)
    malformed_rows: int = 0  # REST rows that did not parse (skipped)
    # User-stream reports of an order with an id this daemon issues that it does not track (a
    # late report of one it forgot, an earlier journal's before the reconciliation takes it
    # over), and cancels asked for an id it does not track: a WARNING each, not applied.
    unknown_client_ids: int = 0
    foreign_symbol_events: int = 0  # events for symbols we do not trade (not applied)
    # userTrades rows not booked: of an order neither tracked nor booked as outside (its query
    # failed; an id we issue, not tracked), or an outside fill a restart's books had already
    foreign_trades: int = 0
    outside_fills: int = 0  # fills of orders placed outside the daemon: booked (`book_outside`)
    # User-stream reports of orders placed outside the daemon other than their fills (accepted,
    # cancelled, expired, an algo order's): not applied, the order named once (`outside_report`)
    outside_reports: int = 0
    ignored_events: int = 0  # well-formed events we do not act on (TRADE_LITE, GRID_UPDATE)
    margin_calls: int = 0  # MARGIN_CALL events (emitted as MarginCalled)
    duplicate_submits: int = 0  # submit() with a client id already tracked (not sent)
    reconciles: int = 0
    reconcile_failures: int = 0
    early_reconciles: int = 0  # asked for by the ExecManager (`reconcile_soon`)
    listen_key_expiries: int = 0
    deadman_refreshes: int = 0
    deadman_failures: int = 0
    listener_errors: int = 0
    journal_errors: int = 0
    funding_events: int = 0
