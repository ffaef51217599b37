"""`LocalExchange`: the running local Binance USD-M Futures exchange (REST + WS on one port).

    async with LocalExchange(data="btcusdt-2024-08-08", symbols=["BTCUSDT"], speed="step") as ex:
        client = await make_async_client(ex)      # python-binance AsyncClient -> ex.rest_url
        await ex.step(1_000)                      # stepped mode: clock +1 s, publish what is due
        ex.faults.drop_websockets(refuse_s=2)     # see faults.Faults for every fault

Constructor: `data` (bundled data-set name or directory; None = no market data), `symbols`,
`speed` (positive number: 1.0 = real time, 10.0 = ten times faster; "max": as fast as the
client sockets drain; "step": nothing moves until `step`/`step_until`), `host` (loopback only),
`port` (0 = any free port), `admin` (enables `POST /_sim/faults`), `engine_config`,
`rate_limits` (`RateLimitConfig`), `ws_config` (`WsConfig`: ping interval, pong timeout,
post-split routing), `auth_config` (`AuthConfig`: recvWindow default and cap), `balance`
(USDT of every account created), `api_key` / `api_secret` (a fixed key for the demo account,
64 letters and digits and a secret of 1..256 visible ASCII characters; both or neither; a random
pair when None, so a user can keep one key in `.env` across restarts of the exchange).

Attributes and methods: `rest_url` (`http://127.0.0.1:PORT`), `ws_url` (`ws://127.0.0.1:PORT`),
`api_key` / `api_secret` (the demo account), `create_account(can_trade=...)` (more keys),
`faults`, `now_ms()` (exchange clock), `step(ms)`, `step_until(data_time_ms)`,
`release_max_speed()` (a stepped exchange starts replaying at max speed),
`to_exchange_ms(data_time_ms)`, `published_agg_ids(symbol)`, `engine` (the matching engine),
`agg_store` / `kline_store` (what REST aggTrades / klines serve), `hub` (the WebSocket hub),
`time_map` (data time -> exchange time), `driver` (the replay driver; see driver.py for the
clock choice).
"""

import asyncio
import logging
import re
from collections.abc import Hashable, Iterable, Mapping
from decimal import Decimal
from typing import Any, cast

from aiohttp import web

from core.clock import SimClock
from core.instrument import Instrument
from exchange_sim.engine import EngineConfig, Exchange
from exchange_sim.replay.agg_trade_store import AggTradeStore
from exchange_sim.replay.catalog import DEFAULT_DATASET, resolve
from exchange_sim.replay.grid import grids_for, load_exchange_info
from exchange_sim.replay.kline_store import KlineStore, kline_rest_row
from exchange_sim.replay.timeline import MarketReplay
from exchange_sim.speed import parse_speed

from .app import JsonErrorRunner, build_app
from .auth import AuthConfig, Credentials, KeyStore
from .clock import ExchangeClock
from .driver import ReplayDriver, time_map_for
from .endpoints import engine_endpoints, market_endpoints
from .faults import Faults, reorder_account_before_order
from .listenkeys import ListenKeys
from .market_state import MarketState
from .ratelimit import RateLimitConfig, RateLimiter
from .rest import Endpoint, RestServer
from .ticker import DAY_MINUTES, ticker_24hr
from .ws import WsConfig, WsHub

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_KEY_FORMAT = re.compile(r"[A-Za-z0-9]{64}")
_SECRET_FORMAT = re.compile(r"[!-~]{1,256}")
DEFAULT_BALANCE = Decimal("10000")
HOUSEKEEPING_INTERVAL_S = 0.5


def check_demo_key(api_key: str | None, api_secret: str | None) -> None:
    """ValueError unless both are None, or the key is 64 letters/digits (what the request check
    accepts as a key's format) and the secret 1..256 visible ASCII characters."""
    if (api_key is None) != (api_secret is None):
        raise ValueError("give both an API key and its secret, or neither")
    if api_key is None or api_secret is None:
        return
    if not _KEY_FORMAT.fullmatch(api_key):
        raise ValueError("the API key must be 64 ASCII letters and digits")
    if not _SECRET_FORMAT.fullmatch(api_secret):
        raise ValueError("the API secret must be 1 to 256 visible ASCII characters, no spaces")


class LocalExchange:
    """One local exchange server. Start with `await ex.start()` or `async with`."""

    def __init__(
        self,
        *,
        data: str | None = DEFAULT_DATASET,
        symbols: Iterable[str] = ("BTCUSDT",),
        speed: float | str = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        admin: bool = False,
        engine_config: EngineConfig | None = None,
        rate_limits: RateLimitConfig | None = None,
        ws_config: WsConfig | None = None,
        auth_config: AuthConfig | None = None,
        balance: Decimal | str = DEFAULT_BALANCE,
        api_key: str | None = None,
        api_secret: str | None = None,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the local exchange only listens on loopback, not {host!r}")
        check_demo_key(api_key, api_secret)
        self._demo_key = (api_key, api_secret) if api_key is not None else None
        self.speed = parse_speed(speed)
        self.host = host
        self.port = port
        self.admin = admin
        self.data = data
        self.engine_config = engine_config
        self.balance = Decimal(balance)
        info = load_exchange_info()
        known = {s["symbol"]: s for s in info["symbols"]}
        self.symbols = tuple(symbols)
        for symbol in self.symbols:
            if symbol not in known:
                raise ValueError(f"unknown symbol {symbol!r}; bundled: {sorted(known)}")
        self.rate_limits = rate_limits or RateLimitConfig()
        self._exchange_info = {
            **info,
            "rateLimits": self.rate_limits.exchange_info_entries(),
            "symbols": [known[s] for s in self.symbols],
        }
        self.faults = Faults()
        self.instruments = {s: Instrument.from_exchange_info(known[s]) for s in self.symbols}
        self.replay: MarketReplay | None = None
        if data is not None:
            dataset = resolve(data)
            self.replay = MarketReplay(dataset, symbols=self.symbols)
        wall = ExchangeClock(self.faults, stepped=False).base_now_ms()
        if self.replay is not None:
            self.time_map = time_map_for(self.replay, self.speed, wall)
            self.grids = {s: dataset.grids[s] for s in self.symbols}
            start_ms = self.time_map.to_exchange(self.replay.start_ms)
        else:
            self.grids = grids_for(self.instruments)
            start_ms = wall
        stepped = self.speed == "step"
        self.clock = ExchangeClock(self.faults, stepped=stepped, start_ms=start_ms)
        self.engine_clock = SimClock(min(start_ms, wall))
        self.engine = Exchange(self.instruments, self.engine_clock, engine_config)
        self.market = MarketState(self.symbols)
        self.keys = KeyStore()
        self.listen_keys = ListenKeys()
        self.limiter = RateLimiter(self.rate_limits, self.clock.base_now_ms)
        self.auth_config = auth_config or AuthConfig()
        self.hub = WsHub(
            ws_config or WsConfig(),
            self.faults,
            self.now_ms,
            self._listen_key_account,
            flush_user_events=self.flush_user_events,
        )
        self.faults.attach(drop_ws=self.hub.drop_all, expire_listen_key=self._expire_listen_keys)
        self.agg_store = AggTradeStore(self.grids)
        self.kline_store = KlineStore(self.grids)
        self.driver: ReplayDriver | None = None
        if self.replay is not None:
            self.driver = ReplayDriver(
                replay=self.replay,
                time_map=self.time_map,
                engine=self.engine,
                hub=self.hub,
                market=self.market,
                agg_store=self.agg_store,
                kline_store=self.kline_store,
                grids=self.grids,
                flush_user_events=self.flush_user_events,
                skew_ms=self._skew_ms,
            )
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task] = set()
        self.demo: Credentials | None = None

    # ---- public API -----------------------------------------------------------------------------

    @property
    def rest_url(self) -> str:
        return f"http://{self._url_host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._url_host}:{self.port}"

    @property
    def api_key(self) -> str:
        assert self.demo is not None, "start() first"
        return self.demo.api_key

    @property
    def api_secret(self) -> str:
        assert self.demo is not None, "start() first"
        return self.demo.api_secret

    def now_ms(self) -> int:
        """Exchange time (ms): what `/fapi/v1/time` answers and recvWindow is checked against."""
        return self.clock.now_ms()

    def exchange_info(self) -> dict:
        return {**self._exchange_info, "serverTime": self.now_ms()}

    def create_account(
        self,
        *,
        can_trade: bool = True,
        account_id: Hashable | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
    ) -> Credentials:
        """A new API key (random, or the given pair) for a new (or the given) account."""
        check_demo_key(api_key, api_secret)
        account = str(account_id) if account_id is not None else f"acct-{len(self._accounts) + 1}"
        if not self.engine.has_account(account):
            self.engine.create_account(account, {"USDT": self.balance})
        self._accounts.add(account)
        if api_key is None or api_secret is None:
            return self.keys.create(account, can_trade=can_trade)
        return self.keys.add(Credentials(api_key, api_secret, account, can_trade))

    def published_agg_ids(self, symbol: str) -> list[int]:
        """Ids of the aggTrades published on `<symbol>@aggTrade` that REST still serves
        (the AggTradeStore's window: the last 6 hours of replay; ascending)."""
        ids: list[int] = []
        while True:
            page = self.agg_store.query(symbol, from_id=(ids[-1] + 1) if ids else 0, limit=1000)
            ids += [ev.agg_id for ev, _ in page]
            if len(page) < 1000:
                return ids

    async def start(self) -> "LocalExchange":
        self._accounts: set[Hashable] = set()
        key, secret = self._demo_key or (None, None)
        self.demo = self.create_account(account_id="demo", api_key=key, api_secret=secret)
        self.rest = RestServer(
            endpoints=self._endpoints(),
            keys=self.keys,
            limiter=self.limiter,
            faults=self.faults,
            now_ms=self.now_ms,
            auth_config=self.auth_config,
        )
        app = build_app(self.rest, self.hub, self.faults, admin=self.admin)
        self._runner = JsonErrorRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = cast(asyncio.Server, server).sockets[0].getsockname()[1]
        if not self.clock.stepped:
            self._spawn(self._housekeeping())
            if self.driver is not None:
                self.driver.publish_start(self.clock.base_now_ms())
                if self.speed == "max":
                    self._spawn(self.driver.run_max())
                else:
                    self._spawn(self.driver.run_live(self.clock.base_now_ms))
        elif self.driver is not None:
            self.driver.publish_until(self.clock.base_now_ms())
        return self

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        await self.hub.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "LocalExchange":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def step(self, ms: int) -> int:
        """Stepped mode: advance the exchange clock by `ms`, publish what is due; return count."""
        if self.clock.sim is None:
            raise RuntimeError("step() needs speed='step'")
        self.clock.sim.advance_ms(ms)
        return await self._stepped_publish()

    async def step_until(self, data_time_ms: int) -> int:
        """Stepped mode: move the clock to the exchange time of recorded time `data_time_ms`."""
        if self.clock.sim is None or self.driver is None:
            raise RuntimeError("step_until() needs speed='step' and data")
        target = self.time_map.to_exchange(data_time_ms)
        self.clock.sim.set_ms(max(target, self.clock.sim.now_ms()))
        return await self._stepped_publish()

    def release_max_speed(self) -> asyncio.Task:
        """Stepped mode only: from now on replay as fast as the sockets drain (benchmarks start
        stepped, connect their clients, then release). The task is cancelled by `stop()`."""
        if not self.clock.stepped or self.driver is None:
            raise RuntimeError("release_max_speed() needs speed='step' and data")
        return self._spawn(self.driver.run_max())

    def to_exchange_ms(self, data_time_ms: int) -> int:
        """Exchange time of a recorded (data) time, without the clock-skew fault (which the
        stamped event times add)."""
        return self.time_map.to_exchange(data_time_ms)

    async def _stepped_publish(self) -> int:
        count = 0
        if self.driver is not None:
            count = self.driver.publish_until(self.clock.base_now_ms())
        self.engine.on_time(self.now_ms())
        self.flush_user_events()
        self._tick()
        for _ in range(3):  # let the socket writers run
            await asyncio.sleep(0)
        return count

    # ---- internals ------------------------------------------------------------------------------

    @property
    def _url_host(self) -> str:
        return "[::1]" if self.host == "::1" else self.host

    def _endpoints(self) -> list[Endpoint]:
        return market_endpoints(self) + engine_endpoints(self._engine_call)

    def _engine_call(
        self, name: str, account_id: Hashable, params: Mapping[str, str], kwargs: dict
    ) -> Any:
        """Run one engine REST operation at the current exchange time, then push user events."""
        if self.driver is not None:
            self.driver.sync_engine_depth()
        self.engine.on_time(self.now_ms())
        try:
            return getattr(self.engine.wire, name)(account_id, params, **kwargs)
        finally:
            self.flush_user_events()

    def flush_user_events(self) -> int:
        """Send the engine's pending user-data events to the accounts' listenKey streams."""
        events = self.engine.drain_user_events()
        if not events:
            return 0
        by_account: dict[str, list[dict]] = {}
        for account_id, event in events:
            by_account.setdefault(account_id, []).append(event)
        now = self.now_ms()
        sent = 0
        for account_id, batch in by_account.items():
            key = self.listen_keys.key_of(account_id)
            if key is None or self.listen_keys.account_of(key, now) is None:
                continue
            if self.faults.reorder_user:
                batch = reorder_account_before_order(batch)
            for event in batch:
                sent += self.hub.publish_user(key, event)
        return sent

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        """Forget a finished background task; a crash is logged, never silently dropped."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("local exchange task %s failed", task.get_name(), exc_info=task.exception())

    def _skew_ms(self) -> int:
        """The clock-skew fault now: the replay driver adds it to every time it stamps."""
        return self.faults.clock_skew_ms

    def _listen_key_account(self, key: str) -> Hashable | None:
        return self.listen_keys.account_of(key, self.now_ms())

    def _expire_listen_keys(self, key: str | None) -> list[str]:
        expired = self.listen_keys.force_expire(key)
        for k in expired:
            self.hub.expire_listen_key(k)
        return expired

    def on_listen_key_closed(self, key: str) -> None:
        self.hub.close_listen_key(key)

    def agg_trades(
        self,
        symbol: str,
        *,
        from_id: int | None,
        start_time: int | None,
        end_time: int | None,
        limit: int,
    ) -> list[dict]:
        return self.agg_store.rest_rows(
            symbol, from_id=from_id, start_time=start_time, end_time=end_time, limit=limit
        )

    def klines(
        self, symbol: str, interval: str, start: int | None, end: int | None, limit: int
    ) -> list[list]:
        now = self.driver.kline_now_ms(symbol) if self.driver is not None else self.now_ms()
        rows = self.kline_store.klines(
            symbol, interval, now_ms=now, start_time=start, end_time=end, limit=limit
        )
        return [kline_rest_row(row) for row in rows]

    def ticker_24hr(self, symbol: str) -> dict:
        """Rolling-day statistics from the published 1m klines (see ticker.py)."""
        now = self.driver.kline_now_ms(symbol) if self.driver is not None else self.now_ms()
        rows = self.kline_store.klines(symbol, "1m", now_ms=now, limit=DAY_MINUTES)
        last = self.agg_store.last(symbol)
        last_qty = format(last[0].qty, "f") if last is not None else "0"
        return ticker_24hr(symbol, rows, last_qty, self.now_ms())

    def funding_history(
        self, symbol: str | None, start: int | None, end: int | None, limit: int
    ) -> list[dict]:
        """Realised funding rates of the data set, re-based to exchange time, up to now."""
        if self.replay is None:
            return []
        now = self.now_ms()
        rows = []
        for sym in [symbol] if symbol else self.symbols:
            rates = self.replay.dataset.funding.get(sym)
            if rates is None:
                continue
            for t, rate, mark in zip(rates.funding_time, rates.rate, rates.mark_price, strict=True):
                ft = self.time_map.to_exchange(int(t))
                if ft > now or (start is not None and ft < start) or (end is not None and ft > end):
                    continue
                rows.append(
                    {
                        "symbol": sym,
                        "fundingRate": format(rate.quantize(Decimal("0.00000001")), "f"),
                        "fundingTime": ft,
                        "markPrice": format(mark, "f") if mark is not None else "",
                    }
                )
        rows.sort(key=lambda r: cast(int, r["fundingTime"]))
        return rows[:limit] if start is not None else rows[-limit:]

    def _tick(self) -> None:
        """Periodic duties: listenKey expiry, finished orders past Binance's retention."""
        if not self.clock.stepped:
            self.engine.on_time(self.now_ms())
            self.flush_user_events()
        for key in self.listen_keys.expire_due(self.now_ms()):
            self.hub.expire_listen_key(key)
        self.engine.engine.forget_old_orders(self.now_ms())

    async def _housekeeping(self) -> None:
        while True:
            self._tick()
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)
