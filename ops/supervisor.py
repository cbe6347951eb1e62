"""Run several processes as one: one prefixed log stream, readiness, clean shutdown.

Each child runs in its own session so that Ctrl-C reaches only the supervisor, which then
stops the children in reverse start order (SIGTERM, then SIGKILL after a grace period).
A child that fails to start stops the stack with an error (a configuration problem to
fix). A child that exits once the stack is serving is restarted, after a pause that
doubles with each quick failure (1 s up to a minute), while the others keep serving: a
crashed phone line must not take the web chat with it.

The terminal shows the supervisor's state lines and what an operator should act on; the
dependencies' chatter (see ``QuietFilter``) goes only to each child's log file, which
keeps everything the child printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any, TextIO

import httpx

from ops.stack import ProcessSpec

GRACE_S = 10.0
# A child that exits while serving is restarted after RESTART_FIRST_S, doubling up to
# RESTART_MAX_S while it keeps failing; a child that ran RESTART_RESET_AFTER_S since its
# last start is restarted quickly again.
RESTART_FIRST_S = 1.0
RESTART_MAX_S = 60.0
RESTART_RESET_AFTER_S = 60.0
# Each child's log file is rotated at this size, keeping this many older files, so a stack
# that runs for months cannot fill the disk.
LOG_MAX_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 2
# Longest line read from a child. asyncio's default (64 KiB) stops the pump on a longer
# line, and a child whose pipe is no longer read blocks on its next write.
LINE_LIMIT = 1024 * 1024

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# The header Python's warnings module prints: "path:line: Category: message".
_WARNING = re.compile(r"^(?P<path>\S.*?):\d+: (?P<category>\w*Warning): ")
# DeprecationWarning, PendingDeprecationWarning, PyparsingDeprecationWarning, FutureWarning.
_DEPRECATION = re.compile(r"(?:Deprecation|Future)Warning$")
_INSTALLED = ("site-packages", "dist-packages")
# A logging record, with the level as our children print it: Rasa and rasa_sdk
# ("2026-01-01 12:00:00 INFO     rasa.core - …"), uvicorn ("INFO:     …"),
# logging.basicConfig in channels ("INFO httpx: …").
_RECORD = re.compile(
    r"^(?:\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?\s+)?"
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL)\b"
)
_QUIET_LEVELS = ("DEBUG", "INFO")
# Known chatter of the Rasa engine's dependencies that the rules above do not catch.
NOISE_PATTERNS = tuple(
    re.compile(pattern)
    for pattern in (
        # TensorFlow and absl C++ logging below ERROR, in glog ("I0101 12:00:00.123 …")
        # and TensorFlow's own ("2026-01-01 12:00:00.123: W tensorflow/…") format.
        r"^[IW]\d{4} \d\d:\d\d:\d\d\.\d+\s",
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] ",
        r"^WARNING: All log messages before absl::InitializeLog\(\) is called",
        # TensorFlow's notes about CPU instructions and oneDNN.
        r"oneDNN custom operations are on|This TensorFlow binary is optimized",
        r"rebuild TensorFlow with the appropriate compiler flags",
        # jax and TensorFlow without a GPU.
        r"[Ff]alling back to (?:cpu|CPU)|Could not find cuda drivers",
        # matplotlib's font and config caches.
        r"Matplotlib is building the font cache|Matplotlib created a temporary",
        # jieba loading its dictionary (Rasa's JiebaTokenizer).
        r"^(?:Building prefix dict from|Loading model from cache|Loading model cost"
        r"|Prefix dict has been built|Dumping model to file cache)",
        # rasa_sdk, on the first action call: the engine (Rasa 3.6 on Python 3.10) and the
        # action server (a rasa_sdk for Python 3.11) differ in version by design.
        r"Your versions of rasa and rasa_sdk might not be compatible",
    )
)
# Lines after a hidden warning's header that still belong to it: the rest of a multi-line
# message and the indented source line Python prints last.
_WARNING_TAIL = 3


class QuietFilter:
    """Whether the terminal shows a line of one child's output; one instance per child.

    Hidden (kept in the log file only):

    - blank lines;
    - logging records at DEBUG or INFO level;
    - warnings raised inside installed packages that are deprecations
      (``*DeprecationWarning``, ``FutureWarning``) or match ``NOISE_PATTERNS``, with the
      message and source lines printed under them;
    - any other line matching one of ``NOISE_PATTERNS``.

    Everything else is shown: errors and warnings of any level, tracebacks, warnings about
    our own code, and any output not recognised (an unknown line may be the one that matters).
    """

    def __init__(self) -> None:
        self._warning_tail = 0

    def shows(self, line: str) -> bool:
        text = _ANSI.sub("", line).rstrip()
        if self._warning_tail:
            if text[:1].isspace():
                self._warning_tail = 0
                return False
            if text and not _starts_entry(text):
                self._warning_tail -= 1
                return False
            self._warning_tail = 0
        if not text.strip():
            return False
        warning = _WARNING.match(text)
        if warning is not None:
            installed = any(part in warning["path"] for part in _INSTALLED)
            if installed and (_DEPRECATION.search(warning["category"]) or _chatter(text)):
                self._warning_tail = _WARNING_TAIL
                return False
            return True
        record = _RECORD.match(text)
        if record is not None and record["level"] in _QUIET_LEVELS:
            return False
        return not _chatter(text)


def _chatter(text: str) -> bool:
    return any(pattern.search(text) for pattern in NOISE_PATTERNS)


def _starts_entry(text: str) -> bool:
    return bool(_WARNING.match(text) or _RECORD.match(text) or text.startswith("Traceback"))


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when inside it: shorter to read."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class ReadinessTimeout(RuntimeError):
    pass


class Supervisor:
    def __init__(self, specs: list[ProcessSpec], *, out: TextIO = sys.stdout) -> None:
        self._specs = specs
        self._out = out
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._started: dict[str, float] = {}
        self._pumps: list[asyncio.Task[None]] = []
        self._files: dict[str, RotatingFileHandler] = {}
        self._width = max((len(s.name) for s in specs), default=4)
        # Processes that are ready when they print their ``ready_line``.
        self._said_ready = {s.name: asyncio.Event() for s in specs if s.ready_line}

    def log(self, name: str, line: str) -> None:
        """A state line: shown, and kept in the child's log file."""
        self._write_file(name, line)
        self._show(name, line)

    def _show(self, name: str, line: str) -> None:
        self._out.write(f"{name:<{self._width}} | {line}\n")
        self._out.flush()

    def _write_file(self, name: str, line: str) -> None:
        handler = self._files.get(name)
        if handler is not None:
            handler.handle(logging.makeLogRecord({"name": name, "msg": line}))

    def log_file(self, name: str) -> str:
        """Where the full output of ``name`` is kept, for messages; empty without a file."""
        handler = self._files.get(name)
        return _shown_path(Path(handler.baseFilename)) if handler is not None else ""

    def _open_log(self, name: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        self._files[name] = handler

    async def start(self) -> None:
        for spec in self._specs:
            spec.cwd.mkdir(parents=True, exist_ok=True)
            if spec.log_file is not None:
                self._open_log(spec.name, spec.log_file)
            await self._spawn(spec)

    async def restart(self, name: str) -> None:
        """Start ``name`` again (it has exited)."""
        self._pumps = [pump for pump in self._pumps if not pump.done()]
        await self._spawn(next(s for s in self._specs if s.name == name))

    def started_at(self, name: str) -> float:
        return self._started[name]

    async def _spawn(self, spec: ProcessSpec) -> None:
        proc = await asyncio.create_subprocess_exec(
            *spec.argv,
            cwd=spec.cwd,
            env=spec.env or None,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            limit=LINE_LIMIT,
        )
        self._procs[spec.name] = proc
        self._started[spec.name] = time.monotonic()
        self._pumps.append(asyncio.create_task(self._pump(spec, proc)))
        where = self.log_file(spec.name)
        self.log(spec.name, f"started (pid {proc.pid})" + (f", log: {where}" if where else ""))

    async def _pump(self, spec: ProcessSpec, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        quiet = QuietFilter()
        async for raw in _lines(proc.stdout):
            line = raw.decode("utf-8", "replace").rstrip()
            self._write_file(spec.name, line)
            if quiet.shows(line):
                self._show(spec.name, line)
            if spec.ready_line and spec.ready_line in line:
                self._said_ready[spec.name].set()

    async def wait_ready(self, timeout_s: float) -> float:
        """Poll every health URL (or wait for each ready line) until all are ready; returns
        seconds taken."""
        started = time.monotonic()
        pending = {s.name: s for s in self._specs}
        async with httpx.AsyncClient(timeout=2.0) as client:
            while pending:
                for name, spec in list(pending.items()):
                    proc = self._procs[name]
                    if proc.returncode is not None:
                        raise ChildExited(name, proc.returncode)
                    if await self._ready(client, spec):
                        del pending[name]
                        self.log(name, "ready / 就绪")
                if time.monotonic() - started > timeout_s:
                    raise ReadinessTimeout(", ".join(pending))
                if pending:
                    await asyncio.sleep(0.25)
        return time.monotonic() - started

    async def _ready(self, client: httpx.AsyncClient, spec: ProcessSpec) -> bool:
        if spec.ready_line:
            return self._said_ready[spec.name].is_set()
        return not spec.health_url or await _healthy(client, spec.health_url)

    async def wait_any_exit(self) -> tuple[str, int]:
        waiters = {asyncio.create_task(proc.wait()): name for name, proc in self._procs.items()}
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                if not waiter.done():
                    waiter.cancel()
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
            # A grandchild may still hold the pipe open; its last lines are not worth a hang.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(pump, 2.0)
        for handler in self._files.values():
            handler.close()


async def _lines(stream: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The stream's lines; a line longer than the reader's limit comes in pieces of that
    size instead of ending the reading (the child would then block on a full pipe)."""
    while True:
        try:
            line = await stream.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:
            if end.partial:
                yield end.partial
            return
        except asyncio.LimitOverrunError as long:
            line = await stream.readexactly(long.consumed)
        yield line


class Backoff:
    """How long to wait before restarting a child that exited while serving."""

    def __init__(self, first_s: float = RESTART_FIRST_S) -> None:
        self.first_s = first_s
        self._next: dict[str, float] = {}

    def delay(self, name: str, ran_s: float) -> float:
        if ran_s >= RESTART_RESET_AFTER_S:
            self._next.pop(name, None)
        delay = self._next.get(name, self.first_s)
        self._next[name] = min(delay * 2, RESTART_MAX_S)
        return delay


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


async def _serve(supervisor: Supervisor, stopper: asyncio.Task[Any], backoff: Backoff) -> None:
    """Until ``stopper`` is done: each child that exits is restarted after its pause."""
    while True:
        exited = asyncio.create_task(supervisor.wait_any_exit())
        await asyncio.wait({exited, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper.done():
            exited.cancel()
            return
        name, code = exited.result()
        delay = backoff.delay(name, time.monotonic() - supervisor.started_at(name))
        supervisor.log(
            name,
            f"exited unexpectedly (code {code}); restarting in {delay:.0f} s"
            + _see_log(supervisor, name),
        )
        await asyncio.wait({stopper}, timeout=delay)
        if stopper.done():
            return
        await supervisor.restart(name)


def _see_log(supervisor: Supervisor, name: str) -> str:
    # The lines that explain a crash may have been hidden as noise; the file has them all.
    where = supervisor.log_file(name)
    return f"; full log: {where}" if where else ""


async def supervise(
    specs: list[ProcessSpec],
    *,
    ready_timeout_s: float = 600.0,
    on_ready: Callable[[float], None] | None = None,
    out: TextIO = sys.stdout,
    restart_first_s: float = RESTART_FIRST_S,
) -> int:
    """Start everything, report readiness, run until Ctrl-C/SIGTERM, restarting a child
    that exits meanwhile."""
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
            await _serve(supervisor, stopper, Backoff(restart_first_s))
        else:
            ready.cancel()
    except ChildExited as exc:
        supervisor.log("supervisor", f"failed to start: {exc}" + _see_log(supervisor, exc.name))
        exit_code = 1
    except ReadinessTimeout as exc:
        supervisor.log("supervisor", f"failed to start: {exc}")
        exit_code = 1
    finally:
        await supervisor.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return exit_code
