"""The one error type of the simulated exchange: a Binance `{code, msg}` rejection + HTTP status."""

from typing import Any


class BinanceError(Exception):
    """A request rejected the way Binance rejects it: negative `code`, text `msg`, HTTP status.

    Everything in `exchange_sim` that refuses a request raises this; the server turns it into the
    JSON body `{"code": ..., "msg": ...}` with `http_status`.
    """

    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}
