"""A signalling session: one WebSDK client, its SIP account, registration and calls.

A session outlives its WebSocket when the client asked for ``keepAlive``: the socket may
drop and a new one re-attaches with the ``authToken`` (websdk-protocol.md §1.6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..sip.registration import Registration
from ..sip.uacore import Account
from .call import Call

__all__ = ["ClientSession"]


@dataclass(eq=False)
class ClientSession:
    """Server-side state of one WebSDK session."""

    id: str
    token: str
    #: the echo sent in getUserData: the connection fields minus the password
    user_data: dict[str, Any]
    app_key: str = "defaultApp"
    keep_alive: bool = False
    register_required: bool = False
    account: Account | None = None
    #: id of the attached WebSocket, None while detached (keepAlive grace period)
    socket: str | None = None
    registration: Registration | None = None
    registered: bool = False
    calls: dict[str, Call] = field(default_factory=dict)
    #: pings sent since the last pong
    missed_pings: int = 0
    #: contact parameter value that routes incoming INVITEs to this session
    contact_id: str = ""
    closed: bool = False
