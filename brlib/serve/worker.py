"""The reward server's scoring worker: one thread runs the forwards, in arrival order, behind a bounded queue.

One forward at a time (torch's intra-op threads already use every core, and one model's memory is the budget);
requests wait in a FIFO of at most `max_queue` entries, and one more is refused at once with 503 and a
Retry-After estimate. A request that has not got its scores `timeout` seconds after entering the queue is answered
504; if it was still waiting it is dropped from the queue (its images freed), if it was running its result is
discarded. With the per-request budgets of `brlib.serve.limits`, a request's wait is bounded by the queue length
times the cost of the largest allowed request, and never by one unbounded request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import queue
import threading
import time


class QueueFull(Exception):
    """The scoring queue is full; `retry_after` is a whole number of seconds to wait."""

    def __init__(self, waiting: int, retry_after: int):
        super().__init__(f"the scoring queue is full ({waiting} requests waiting); retry after {retry_after} s")
        self.retry_after = retry_after


class TimedOut(Exception):
    """A request did not get its scores within the timeout (`started`: whether its forward had begun)."""

    def __init__(self, timeout: float, started: bool):
        where = "while scoring" if started else "waiting in the queue"
        super().__init__(f"no scores within {timeout:g} s (timed out {where}); retry later or send less")
        self.started = started


class _Job:
    __slots__ = ("fn", "args", "future", "waiting")

    def __init__(self, fn, args):
        self.fn, self.args = fn, args
        self.future: concurrent.futures.Future = concurrent.futures.Future()
        self.waiting = True


class ScoringWorker:
    """A single scoring thread behind a bounded FIFO. Used by `brlib.serve.app.create_app`."""

    def __init__(self, max_queue: int = 64, timeout: float = 60.0):
        self.max_queue, self.timeout = max_queue, timeout
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._busy = False
        self._mean_seconds = 0.1  # running mean of a job's run time, for Retry-After
        self._thread: threading.Thread | None = None

    @property
    def waiting(self) -> int:
        """Requests in the queue (not counting the one being scored)."""
        return self._waiting

    @property
    def busy(self) -> bool:
        """Whether a forward is running now."""
        return self._busy

    async def run(self, fn, *args):
        """Run `fn(*args)` on the worker thread; raises `QueueFull` or `TimedOut`, or what `fn` raised."""
        job = _Job(fn, args)
        with self._lock:
            if self._waiting >= self.max_queue:
                retry = math.ceil((self._waiting + 1) * self._mean_seconds)
                raise QueueFull(self._waiting, min(max(retry, 1), max(1, math.ceil(self.timeout))))
            self._waiting += 1
            self._ensure_thread()
        self._jobs.put(job)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(job.future), self.timeout)
        except asyncio.TimeoutError:
            started = self._leave_queue(job)
            raise TimedOut(self.timeout, started) from None
        except asyncio.CancelledError:  # the client went away
            self._leave_queue(job)
            raise

    def _leave_queue(self, job: _Job) -> bool:
        """Drop a job that is still waiting (True if it had already started)."""
        with self._lock:
            if not job.waiting:
                return True
            job.waiting = False
            self._waiting -= 1
            job.args = ()  # free its images now, not when the worker reaches it
            job.future.cancel()
            return False

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="brlib-scoring", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                if not job.waiting:  # timed out or cancelled while waiting
                    continue
                job.waiting = False
                self._waiting -= 1
                self._busy = True
            if not job.future.set_running_or_notify_cancel():
                self._busy = False
                continue
            start = time.monotonic()
            try:
                job.future.set_result(job.fn(*job.args))
            except BaseException as e:  # noqa: B036 - handed to the waiting request, which re-raises it
                job.future.set_exception(e)
            finally:
                self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * (time.monotonic() - start)
                self._busy = False
                job.args = ()

    def close(self) -> None:
        """Stop the thread after the jobs already queued."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=30)
            self._thread = None
