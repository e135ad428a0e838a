"""REST hooks: what the gateway tells the backend about sessions and calls (sans-I/O).

Theory of operation
-------------------
With ``rest_hook_url`` set, the core queues a :class:`BackendNotification` for every client
action and every event the backend should hear of (websdk-protocol.md §4.2, WCS names); the
asyncio adapter drains them (:meth:`Hooks.drain`), POSTs each payload as JSON to
``<rest_hook_url>/<hook>`` and, for a ``connect`` (the only hook that carries a ``token``),
feeds the answer back to the core (``Gateway.backend_answered``).  Everything else is
fire-and-forget: nothing in the core waits for it (WCS policy NOTIFY, restOnError LOG).

Every payload carries ``sessionId`` and ``appKey`` (one base URL serves every application,
where WCS binds a backend per ``appKey``) and never a ``sipPassword``.

* client actions ``connect``, ``call``, ``answer``, ``hangup``, ``hold``, ``unhold``,
  ``sendDtmf``, ``transfer``: the client's request object as it sent it;
* ``ConnectionStatusEvent`` (ESTABLISHED, FAILED, DISCONNECTED), ``RegistrationStatusEvent``
  (REGISTERED, FAILED, UNREGISTERED): ``status``, ``info``;
* ``CallStatusEvent``: the Call object of each status frame the SDK is sent;
  ``OnCallEvent``: the Call object of an incoming call;
* ``OnDTMFEvent`` (ours, not WCS): a digit detected from the SIP side: ``callId``,
  ``dtmf``, ``type`` (``RFC2833`` or ``INFO``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .call import Call
    from .session import ClientSession

__all__ = ["BackendNotification", "CLIENT_ACTIONS", "Hooks"]

#: client frames that are reported to the backend under their own name
CLIENT_ACTIONS = frozenset({"call", "answer", "hangup", "hold", "unhold", "sendDtmf", "transfer"})
#: never sent to the backend
SECRET_FIELDS = frozenset({"sipPassword"})


class BackendNotification(NamedTuple):
    """One POST to ``<rest_hook_url>/<hook>``."""

    hook: str
    payload: dict[str, Any]
    #: only ``connect``: the core waits for ``Gateway.backend_answered(token, status, now)``
    token: str | None = None


class Hooks:
    """The notifications the core queued since the last :meth:`drain` (none while disabled)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._queue: list[BackendNotification] = []

    def drain(self) -> list[BackendNotification]:
        queued, self._queue = self._queue, []
        return queued

    def notify(self, hook: str, payload: dict[str, Any], token: str | None = None) -> None:
        """Queue ``payload`` (copied, secrets removed) for ``hook``."""
        if self.enabled:
            clean = {key: value for key, value in payload.items() if key not in SECRET_FIELDS}
            self._queue.append(BackendNotification(hook, clean, token))

    def connect(self, token: str, request: dict[str, Any], session_id: str, app_key: str) -> None:
        """The ``connection`` request; the core parks it until the answer to ``token``."""
        self.notify("connect", {**request, "sessionId": session_id, "appKey": app_key}, token)

    def client_action(self, session: ClientSession, name: str, request: Any) -> None:
        """A client frame in :data:`CLIENT_ACTIONS`, with its request object as sent."""
        fields = request if isinstance(request, dict) else {}
        self.notify(name, {**fields, "sessionId": session.id, "appKey": session.app_key})

    def connection_status(self, session_id: str, app_key: str, status: str, info: str | None = None) -> None:
        payload = {"status": status, "sessionId": session_id, "appKey": app_key}
        if info:
            payload["info"] = info
        self.notify("ConnectionStatusEvent", payload)

    def registration_status(self, session: ClientSession, status: str, info: str) -> None:
        self.notify("RegistrationStatusEvent", {"status": status, "info": info, "sessionId": session.id,
                                                "appKey": session.app_key})

    def call_status(self, call: Call) -> None:
        self.notify("CallStatusEvent", call.describe())

    def incoming_call(self, call: Call) -> None:
        self.notify("OnCallEvent", call.describe())

    def dtmf(self, call: Call, digit: str, kind: str) -> None:
        """A digit from the SIP side; ``kind`` "RFC2833" or "INFO"."""
        self.notify("OnDTMFEvent", {"callId": call.id, "dtmf": digit, "type": kind,
                                    "sessionId": call.session.id, "appKey": call.session.app_key})
