"""Run several processes as one: one prefixed log stream, readiness, clean shutdown.

Each child runs in its own session so that Ctrl-C reaches only the supervisor, which then
stops the children in reverse start order (SIGTERM, then SIGKILL after a grace period).
If any child exits on its own, the supervisor stops the rest and exits non-zero: a
half-running stack would silently lose what citizens say.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from typing import TextIO

import httpx

from ops.stack import ProcessSpec

GRACE_S = 10.0


class ReadinessTimeout(RuntimeError):
    pass


class Supervisor:
    def __init__(self, specs: list[ProcessSpec], *, out: TextIO = sys.stdout) -> None:
        self._specs = specs
        self._out = out
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._pumps: list[asyncio.Task[None]] = []
        self._width = max((len(s.name) for s in specs), default=4)

    def log(self, name: str, line: str) -> None:
        self._out.write(f"{name:<{self._width}} | {line}\n")
        self._out.flush()

    async def start(self) -> None:
        for spec in self._specs:
            spec.cwd.mkdir(parents=True, exist_ok=True)
            proc = await asyncio.create_subprocess_exec(
                *spec.argv,
                cwd=spec.cwd,
                env=spec.env or None,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
            self._procs[spec.name] = proc
            self._pumps.append(asyncio.create_task(self._pump(spec.name, proc)))
            self.log(spec.name, f"started (pid {proc.pid})")

    async def _pump(self, name: str, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            self.log(name, raw.decode("utf-8", "replace").rstrip())

    async def wait_ready(self, timeout_s: float) -> float:
        """Poll every health URL until all answer; returns seconds taken."""
        started = time.monotonic()
        pending = {s.name: s for s in self._specs}
        async with httpx.AsyncClient(timeout=2.0) as client:
            while pending:
                for name, spec in list(pending.items()):
                    proc = self._procs[name]
                    if proc.returncode is not None:
                        raise ChildExited(name, proc.returncode)
                    if not spec.health_url or await _healthy(client, spec.health_url):
                        del pending[name]
                        self.log(name, "ready / 就绪")
                if time.monotonic() - started > timeout_s:
                    raise ReadinessTimeout(", ".join(pending))
                if pending:
                    await asyncio.sleep(0.25)
        return time.monotonic() - started

    async def wait_any_exit(self) -> tuple[str, int]:
        waiters = {asyncio.create_task(proc.wait()): name for name, proc in self._procs.items()}
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        task = done.pop()
        return waiters[task], task.result()

    async def stop(self) -> None:
        for name, proc in reversed(self._procs.items()):
            if proc.returncode is None:
                self.log(name, "stopping")
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        for name, proc in reversed(self._procs.items()):
            try:
                await asyncio.wait_for(proc.wait(), GRACE_S)
            except TimeoutError:
                self.log(name, f"did not stop in {GRACE_S:.0f} s, killing")
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for pump in self._pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(pump, 2.0)


class ChildExited(RuntimeError):
    def __init__(self, name: str, code: int) -> None:
        super().__init__(f"{name} exited with code {code}")
        self.name = name
        self.code = code


async def _healthy(client: httpx.AsyncClient, url: str) -> bool:
    try:
        response = await client.get(url)
    except httpx.HTTPError:
        return False
    return response.status_code < 500


async def supervise(
    specs: list[ProcessSpec],
    *,
    ready_timeout_s: float = 600.0,
    on_ready: Callable[[float], None] | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Start everything, report readiness, run until Ctrl-C/SIGTERM or a child dies."""
    supervisor = Supervisor(specs, out=out)
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_requested.set)

    exit_code = 0
    try:
        await supervisor.start()
        ready = asyncio.create_task(supervisor.wait_ready(ready_timeout_s))
        stopper = asyncio.create_task(stop_requested.wait())
        done, _ = await asyncio.wait({ready, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if ready in done:
            elapsed = ready.result()
            if on_ready is not None:
                on_ready(elapsed)
            exited = asyncio.create_task(supervisor.wait_any_exit())
            finished, _ = await asyncio.wait({exited, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if exited in finished:
                name, code = exited.result()
                supervisor.log(name, f"exited unexpectedly (code {code}); stopping the stack")
                exit_code = 1
        else:
            ready.cancel()
    except (ChildExited, ReadinessTimeout) as exc:
        supervisor.log("supervisor", f"failed to start: {exc}")
        exit_code = 1
    finally:
        await supervisor.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return exit_code
