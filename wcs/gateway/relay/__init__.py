"""The call relay: one browser WebRTC transport bridged to the SIP side's RTP streams (sans-I/O).

``core`` (the relay and its hot path), ``streams`` (per-stream state, symmetric RTP),
``processor`` (what handles one direction: passthrough today), ``reports`` (RTCP per
leg), ``dtmf`` (sendDtmf as RFC 4733 events), ``activity`` (RTP activity detection).
"""

from .core import BROWSER, SIP_RTCP, CallRelay, Datagram, LegStats, RelayConfig
from .processor import Passthrough, ProcessorFactory, StreamProcessor, passthrough_factory

__all__ = ["BROWSER", "SIP_RTCP", "CallRelay", "Datagram", "LegStats", "Passthrough", "ProcessorFactory",
           "RelayConfig", "StreamProcessor", "passthrough_factory"]
