"""Work an app does in the background while it serves (the jobs of backoffice/app.py):
a blocking piece of work run in a worker thread, again and again. A round that fails is
logged and the next one tries again; the pages go on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


async def every(seconds: float, work: Callable[[], object], failure: str) -> None:
    """``work`` now and every ``seconds`` after, until cancelled; ``failure`` is logged
    with the exception of a round that failed."""
    while True:
        try:
            await asyncio.to_thread(work)
        except Exception:
            log.exception(failure)
        await asyncio.sleep(seconds)
