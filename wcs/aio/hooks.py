"""The REST hook sender: POSTs the core's :class:`~wcs.gateway.hooks.BackendNotification`\\ s.

One shared :class:`aiohttp.ClientSession`, ``concurrency`` worker tasks and a bounded queue:

* each notification is POSTed as JSON to ``<base_url>/<hook>`` within ``timeout`` seconds
  (redirects are not followed: a 3xx is an answer like any other non-2xx);
* notifications of one session (``sessionId``) are sent one after the other, in the order the
  core queued them; different sessions go in parallel, so a slow answer holds up only its own
  session's later notifications, never other sessions, the signalling or the media;
* ``connect`` notifications (the core waits for them) are sent before any other waiting one;
  their outcome goes to ``answer(token, status)``, status None when there was no HTTP answer;
* at most ``max_pending`` notifications wait; when full, the oldest is dropped (counted in
  :attr:`HookSender.dropped`, a WARNING at the first drop and every 100th); a dropped
  ``connect`` is answered None so its session is not left waiting;
* a POST that fails (unreachable, timed out) or, for fire-and-forget hooks, is answered with a
  non-2xx status is logged as one WARNING line naming the hook and the error (WCS
  restOnError LOG); nothing is retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

import aiohttp

from ..gateway.hooks import BackendNotification

__all__ = ["HookSender"]

log = logging.getLogger("wcs.hooks")

#: the adapter's callback for a ``connect``: (token, HTTP status or None)
Answer = Callable[[str, int | None], None]


class HookSender:
    """Sends REST hook notifications; see the module docstring."""

    def __init__(self, base_url: str, timeout: float, answer: Answer, *, concurrency: int = 8,
                 max_pending: int = 1000) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._answer = answer
        self._concurrency = concurrency
        self.max_pending = max_pending
        self._connects: deque[BackendNotification] = deque()
        self._others: deque[BackendNotification] = deque()
        self._busy: set[str] = set()          # sessions with a POST in flight
        self._changed = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._http: aiohttp.ClientSession | None = None
        #: notifications dropped because the queue was full; POSTs done, and failed
        self.dropped = 0
        self.sent = 0
        self.failed = 0

    @property
    def pending(self) -> int:
        return len(self._connects) + len(self._others)

    @property
    def idle(self) -> bool:
        return not self.pending and not self._busy

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._workers = [asyncio.create_task(self._worker()) for _ in range(self._concurrency)]

    async def close(self, drain: float = 0.0) -> None:
        """Stop; first give what is queued up to ``drain`` seconds to go out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain
        while not self.idle and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._http is not None:
            await self._http.close()
            self._http = None

    def submit(self, notification: BackendNotification) -> None:
        """Queue a notification (never blocks)."""
        if self.pending >= self.max_pending:
            queue = self._others or self._connects
            self._drop(queue.popleft())
        (self._connects if notification.token is not None else self._others).append(notification)
        self._changed.set()

    def _drop(self, notification: BackendNotification) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 100 == 0:
            log.warning("REST hook queue full (%d waiting): dropped the oldest (%s); %d dropped so far",
                        self.max_pending, notification.hook, self.dropped)
        if notification.token is not None:
            self._answer(notification.token, None)

    def _take(self) -> BackendNotification | None:
        """The first waiting notification whose session has nothing in flight."""
        for queue in (self._connects, self._others):
            for index, notification in enumerate(queue):
                if _key(notification) not in self._busy:
                    del queue[index]
                    return notification
        return None

    async def _worker(self) -> None:
        while True:
            notification = self._take()
            if notification is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            key = _key(notification)
            self._busy.add(key)
            try:
                await self._post(notification)
            finally:
                self._busy.discard(key)
                self._changed.set()

    async def _post(self, notification: BackendNotification) -> None:
        assert self._http is not None
        url = f"{self.base_url}/{notification.hook}"
        status: int | None = None
        try:
            async with self._http.post(url, json=notification.payload, allow_redirects=False) as response:
                status = response.status
                await response.read()
        except TimeoutError:
            error = f"no answer within {self.timeout:g} s"
        except (aiohttp.ClientError, OSError, ValueError, TypeError) as exc:   # TypeError: not JSON
            error = str(exc) or type(exc).__name__
        else:
            error = "" if 200 <= status < 300 or notification.token is not None else f"HTTP {status}"
        if error:
            self.failed += 1
            log.warning("REST hook %s to %s failed: %s", notification.hook, url, error)
        else:
            self.sent += 1
        if notification.token is not None:
            self._answer(notification.token, status)


def _key(notification: BackendNotification) -> str:
    return str(notification.payload.get("sessionId", ""))
