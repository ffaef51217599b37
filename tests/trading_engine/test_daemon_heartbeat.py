"""The heartbeat prints a status line every `execution.heartbeat_s` until the shutdown
starts: then the closing summary is the last thing on stdout."""

import asyncio
import io
from dataclasses import replace

from runtime.settings import load_settings
from trading_engine.daemon import Daemon


def test_the_heartbeat_prints_until_the_shutdown_stops_it() -> None:
    settings = load_settings(None, env_file=None)
    settings = replace(settings, execution=replace(settings.execution, heartbeat_s=0.01))
    out = io.StringIO()
    daemon = Daemon(settings, out=out)

    async def scenario() -> tuple[int, int]:
        daemon._start_heartbeat()
        await asyncio.sleep(0.1)
        printed = out.getvalue().count("application running")
        daemon._stop_heartbeat()
        await asyncio.sleep(0.1)
        return printed, out.getvalue().count("application running")

    printed, after = asyncio.run(scenario())

    assert printed >= 3  # ~10 lines in 0.1 s
    assert after == printed
