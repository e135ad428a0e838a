"""The WebSDK signalling protocol: JSON frames ``{"message": NAME, "data": [...]}``.

This is the only module that imports msgspec.  It decodes client frames into typed
payloads (unknown keys are kept in ``raw`` and otherwise ignored, as the SDK sends many
informational fields) and encodes server frames, which must *always* carry a ``data``
array: the SDK reads ``data[0]`` of every frame and drops frames without it
(docs: websdk-protocol.md §1.2).

Payload field names are the SDK's (camelCase) on purpose: they are the wire format.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..errors import RemoteProtocolError

__all__ = [
    "SignalingError", "ClientFrame", "ConnectionRequest", "CallRequest", "CallRef", "DtmfRequest",
    "TransferRequest", "decode_frame", "encode_frame",
]


class SignalingError(RemoteProtocolError):
    """A client frame that cannot be understood."""


class ConnectionRequest(msgspec.Struct, forbid_unknown_fields=False, omit_defaults=True):
    """``connection``: the first frame of a session (websdk-protocol.md §1.3)."""

    appKey: str = "defaultApp"
    mediaProviders: list[str] = []
    keepAlive: bool = False
    authToken: str | None = None
    clientVersion: str | None = None
    custom: Any = None
    sipLogin: str | None = None
    sipAuthenticationName: str | None = None
    sipPassword: str | None = None
    sipDomain: str | None = None
    sipOutboundProxy: str | None = None
    sipProxy: str | None = None
    sipPort: int | str | None = None
    sipRegisterRequired: bool | str | None = None
    sipVisibleName: str | None = None


class CallRequest(msgspec.Struct, forbid_unknown_fields=False, omit_defaults=True):
    """``call`` (outgoing, browser offer) and ``answer`` (incoming, browser answer)."""

    callId: str
    sdp: str | None = None
    incoming: bool = False
    hasAudio: bool = True
    hasVideo: bool = False
    status: str | None = None
    mediaProvider: str | None = None
    caller: str | None = None
    callee: str | int | None = None
    visibleName: str | None = None
    sipSDP: list[str] | None = None
    custom: Any = None


class CallRef(msgspec.Struct, forbid_unknown_fields=False, omit_defaults=True):
    """``hangup``, ``hold``, ``unhold``: a call named by its id."""

    callId: str
    holdForTransfer: bool = False


class DtmfRequest(msgspec.Struct, forbid_unknown_fields=False, omit_defaults=True):
    """``sendDtmf``: ``dtmf`` may be a string of digits or a number (§2.7)."""

    callId: str
    dtmf: str | int
    type: str = "RFC2833"


class TransferRequest(msgspec.Struct, forbid_unknown_fields=False, omit_defaults=True):
    """``transfer``: blind transfer of a call to ``target``."""

    callId: str
    target: str | int


#: client messages whose payload has a typed form; others are accepted and ignored.
PAYLOAD_TYPES: dict[str, type[msgspec.Struct]] = {
    "connection": ConnectionRequest,
    "call": CallRequest,
    "answer": CallRequest,
    "hangup": CallRef,
    "hold": CallRef,
    "unhold": CallRef,
    "sendDtmf": DtmfRequest,
    "transfer": TransferRequest,
}


class ClientFrame(msgspec.Struct):
    """A decoded client frame: its name, the typed payload (if the name is known) and the raw one."""

    message: str
    payload: Any
    raw: Any


class _Envelope(msgspec.Struct, forbid_unknown_fields=False):
    message: str
    data: list[Any] | None = None


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_encoder = msgspec.json.Encoder()


def decode_frame(text: str | bytes) -> ClientFrame:
    """Decode one client text frame; raise :class:`SignalingError` naming what is wrong."""
    try:
        envelope = _envelope_decoder.decode(text)
    except msgspec.DecodeError as exc:
        raise SignalingError(f"Malformed frame: {exc}") from None
    raw = envelope.data[0] if envelope.data else None
    kind = PAYLOAD_TYPES.get(envelope.message)
    if kind is None:
        return ClientFrame(envelope.message, raw, raw)
    try:
        payload = msgspec.convert(raw if raw is not None else {}, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise SignalingError(f"Invalid '{envelope.message}' payload: {exc}") from None
    return ClientFrame(envelope.message, payload, raw)


def encode_frame(message: str, *data: Any) -> str:
    """Encode a server frame; ``data`` defaults to ``[null]`` so the SDK can read ``data[0]``."""
    items = list(data) if data else [None]
    return _encoder.encode({"message": message, "data": items}).decode()


def to_builtins(value: Any) -> Any:
    """A typed payload back to plain JSON types (for echoing or logging)."""
    return msgspec.to_builtins(value)
