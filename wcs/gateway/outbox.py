"""What the gateway core asks the WebSocket adapter to do: send frames, close sockets."""

from __future__ import annotations

from typing import Any, NamedTuple

from .protocol import encode_frame
from .session import ClientSession

__all__ = ["CloseSocket", "Outbox", "SendFrame", "SocketAction"]


class SendFrame(NamedTuple):
    socket: str
    text: str


class CloseSocket(NamedTuple):
    socket: str
    code: int
    reason: str


SocketAction = SendFrame | CloseSocket


class Outbox:
    """Socket actions queued by the core, drained by the adapter after each input."""

    def __init__(self) -> None:
        self._actions: list[SocketAction] = []

    def drain(self) -> list[SocketAction]:
        actions, self._actions = self._actions, []
        return actions

    def send(self, socket_id: str, message: str, *data: Any) -> None:
        """A server frame; ``data`` defaults to ``[null]`` (every frame carries ``data``)."""
        self._actions.append(SendFrame(socket_id, encode_frame(message, *data)))

    def send_to(self, session: ClientSession, message: str, *data: Any) -> None:
        """A frame for a session's current socket (dropped while it has none)."""
        if session.socket is not None:
            self.send(session.socket, message, *data)

    def close(self, socket_id: str, code: int, reason: str) -> None:
        self._actions.append(CloseSocket(socket_id, code, reason[:120]))
