"""Worker processes for ``ckpt migrate``: started once, reused, stopped promptly.

This module imports neither torch nor the engine, so the CLI can start the workers before
it imports them itself: each worker's ~2.5 s of importing torch then overlaps the main
process's own, instead of coming after it.

Each worker is a spawned interpreter that serves one job at a time over a pipe. It asks
for work (``ready``) and gets the next job, so a job sent is a job started, and the parent
always knows which worker holds which file. A worker may consult the parent mid-job (is
this source already done? may it take this output slot?), which keeps every decision about
the whole tree in one process.

Workers never see SIGINT: they are started from a thread that blocks it, inherit that mask,
and ignore the signal before unblocking it. A Ctrl-C is the parent's to handle: it stops
handing out jobs, lets each worker finish the file it holds (every write is atomic, so that
file is either done or left as it was), and terminates the workers that hold none, even
half-way through importing torch.
"""

from __future__ import annotations

import importlib
import multiprocessing
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from typing import Any

from checkpoint.errors import WorkerDied
from compat.host._exit import exit_without_teardown

__all__ = ["Consult", "StopFlag", "WorkerPool", "serve", "stop_on_sigint"]

#: A worker's question to the parent mid-job: (kind, job index, arguments) -> the answer.
Consult = Callable[[str, int, tuple[Any, ...]], Any]


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process of the spawn context
    conn: Connection
    ready: bool = False  # asked for work at least once: past start-up
    job: int | None = None  # the job it holds
    gone: bool = False


def serve(conn: Connection, entry: str) -> None:
    """A worker's main: import ``entry`` (``module:function``), then run jobs until told to
    stop. ``function(init, job, consult)`` does one job, ``init`` comes from the parent and
    ``consult(kind, *arguments)`` asks it a question. The module's ``worker_started()``, if
    it has one, runs once after the import."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    module_name, _, name = entry.partition(":")
    try:
        module = importlib.import_module(module_name)
        work = getattr(module, name)
        getattr(module, "worker_started", lambda: None)()
        message = conn.recv()
    except (EOFError, KeyboardInterrupt, OSError):
        return
    if message is None:
        exit_without_teardown(0)  # the parent waits for this exit: make it prompt
    _, init = message
    try:
        conn.send(("ready",))
        while (message := conn.recv()) is not None:
            _, index, job = message

            def consult(kind: str, *arguments: Any, index: int = index) -> Any:
                conn.send((kind, index, arguments))
                return conn.recv()

            conn.send(("done", index, work(init, job, consult)))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return  # the parent went away: nothing is left to report to
    exit_without_teardown(0)


@dataclass(frozen=True)
class _Session:
    """One ``WorkerPool.run``: what each worker is given, and where jobs come from and go."""

    init: object
    take: Callable[[], tuple[int, object] | None]
    consult: Consult
    finished: Callable[[int, object], None]
    stop: threading.Event


@dataclass
class WorkerPool:
    """``size`` worker processes serving ``entry``, started in the background at once."""

    size: int
    entry: str
    _workers: list[_Worker] = field(default_factory=list)
    _starter: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False

    def __post_init__(self) -> None:
        self._starter = threading.Thread(target=self._start_all, name="ckpt-workers", daemon=True)
        self._starter.start()

    def _start_all(self) -> None:
        context = multiprocessing.get_context("spawn")
        # Started first: it unblocks SIGINT in the thread that starts it, on its way out.
        resource_tracker.ensure_running()
        # Blocked in this thread, so blocked in each child from its first instruction.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        for _ in range(self.size):
            with self._lock:
                if self._closed:
                    return
                parent, child = context.Pipe()
                process = context.Process(
                    target=serve, args=(child, self.entry), name="ckpt-migrate-worker", daemon=True
                )
                process.start()
                child.close()
                self._workers.append(_Worker(process, parent))

    def run(
        self,
        init: object,
        take: Callable[[], tuple[int, object] | None],
        consult: Consult,
        finished: Callable[[int, object], None],
        stop: threading.Event,
    ) -> threading.Thread:
        """Serve jobs from ``take`` in a thread until it returns ``None`` or ``stop`` is set;
        each result goes to ``finished``. A worker that dies fails its job (``finished`` gets
        a ``WorkerDied``). Join the thread to wait for the jobs in flight."""
        thread = threading.Thread(
            target=self._dispatch,
            args=(_Session(init, take, consult, finished, stop),),
            name="ckpt-dispatch",
            daemon=True,
        )
        thread.start()
        return thread

    def _dispatch(self, session: _Session) -> None:
        try:
            self._serve_jobs(session)
        finally:  # a bug here must not leave a job unreported or a worker waiting
            with self._lock:
                workers = list(self._workers)
            for worker in workers:
                if worker.job is not None:
                    session.finished(
                        worker.job, WorkerDied("the parent stopped serving its worker")
                    )
                    worker.job = None
                    worker.process.terminate()
                self._retire(worker)

    def _serve_jobs(self, session: _Session) -> None:
        greeted: set[int] = set()
        while True:
            with self._lock:
                workers = [worker for worker in self._workers if not worker.gone]
                starting = self._starter is not None and self._starter.is_alive()
            for worker in workers:
                if id(worker) not in greeted:
                    greeted.add(id(worker))
                    self._send(worker, ("init", session.init))
            if session.stop.is_set():
                for worker in workers:
                    if worker.job is None:
                        self._retire(worker)  # holds no file: no need to wait for it
                workers = [worker for worker in workers if not worker.gone]
            if not workers and not starting:
                return
            connections = {worker.conn: worker for worker in workers}
            for conn in wait(list(connections), timeout=0.1):
                worker = connections[conn]  # type: ignore[index]
                self._answer(worker, session)

    def _answer(self, worker: _Worker, session: _Session) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            if worker.job is not None:
                code = worker.process.exitcode
                session.finished(
                    worker.job, WorkerDied(f"its worker process died (exit code {code})")
                )
            worker.job = None
            self._retire(worker)
            return
        kind = message[0]
        if kind in ("ready", "done"):
            if kind == "done":
                _, index, result = message
                worker.job = None
                session.finished(index, result)
            worker.ready = True
            job = None if session.stop.is_set() else session.take()
            if job is None:
                self._retire(worker)
            else:
                worker.job = job[0]
                self._send(worker, ("job", *job))
        else:
            _, index, arguments = message
            self._send(worker, session.consult(kind, index, arguments))

    def _send(self, worker: _Worker, message: object) -> None:
        with suppress(OSError):  # it died: its connection reports that next
            worker.conn.send(message)

    def _retire(self, worker: _Worker) -> None:
        """Tell a worker that holds no job to stop, and make sure it does."""
        if worker.gone:
            return
        worker.gone = True
        if worker.ready:
            self._send(worker, None)
        else:
            worker.process.terminate()  # still starting up: it holds nothing
        worker.conn.close()

    def close(self) -> None:
        """Stop every worker (after the jobs in flight, which the dispatch thread waited
        for); terminate any that does not exit promptly."""
        with self._lock:
            self._closed = True
            workers = list(self._workers)
        for worker in workers:
            if not worker.gone:
                self._retire(worker)
        for worker in workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=5)
        if self._starter is not None:
            self._starter.join(timeout=5)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StopFlag(threading.Event):
    """Set by Ctrl-C. Until something is in flight (``raising``), Ctrl-C also raises
    ``KeyboardInterrupt``, to stop at once; after that it only sets the flag, and the run
    stops between files, never inside one."""

    def __init__(self) -> None:
        super().__init__()
        self.raising = True


@contextmanager
def stop_on_sigint(stop: StopFlag, *, install: bool = True) -> Iterator[StopFlag]:
    """Install the Ctrl-C handler ``stop`` describes (in the main thread only)."""

    def handler(signum: int, frame: object) -> None:
        stop.set()
        if stop.raising:
            raise KeyboardInterrupt

    if not install or threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
