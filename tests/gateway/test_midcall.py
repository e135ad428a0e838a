"""Inside an established call: hold, the SIP peer's re-offers, transfer both ways, DTMF, keyframes."""

from __future__ import annotations

from typing import Any

import pytest

from wcs.gateway.media import DtmfDetected, KeyframeNeeded
from wcs.sdp.parse import parse_sdp
from wcs.sip.events import InfoReceived, OfferReceived, ReferReceived, TransferProgress
from wcs.sip.uacore import CallAnswered, CallEnded, IncomingCall

from .harness import World
from .test_core import SIP_ANSWER, call_frame


@pytest.fixture
def world() -> World:
    return World()


def established(world: World) -> tuple[str, Any]:
    """A browser → phone call in ESTABLISHED; returns the socket and the phone's session."""
    ws = world.connect()
    world.send(ws, "call", call_frame())
    incoming = world.phone_incoming()
    world.phone.answer(incoming.session, SIP_ANSWER, world.now)
    world.pump()
    assert world.statuses(ws, "c1")[-1] == "ESTABLISHED"
    return ws, incoming.session


def direction_of(sdp: bytes) -> str:
    return parse_sdp(sdp).media[0].direction


def answer_phone_offer(world: World, direction: str) -> OfferReceived:
    offer: OfferReceived = world.phone_events_of(OfferReceived)[-1]
    answer = SIP_ANSWER.replace(b"a=sendrecv", f"a={direction}".encode())
    world.phone.answer_offer(offer.session, answer, world.now)
    world.pump()
    return offer


# -- hold --------------------------------------------------------------------------------------

def test_hold_and_unhold_from_the_browser(world: World) -> None:
    ws, _ = established(world)
    world.send(ws, "hold", {"callId": "c1"})
    assert world.media.held["c1"] is True, "forwarding stops at once"
    offer = answer_phone_offer(world, "recvonly")
    assert direction_of(offer.sdp) == "sendonly"                 # RFC 6337 §5
    assert world.received(ws, "hold")[-1]["data"][0]["status"] == "HOLD"
    world.send(ws, "unhold", {"callId": "c1"})
    offer = answer_phone_offer(world, "sendrecv")
    assert direction_of(offer.sdp) == "sendrecv"
    assert world.statuses(ws, "c1")[-1] == "ESTABLISHED" and world.media.held["c1"] is False
    versions = [parse_sdp(e.sdp).origin.session_version for e in world.phone_events_of(OfferReceived)]
    assert versions == [2, 3], "o= version rises with every changed offer (RFC 3264 §8)"


def test_hold_for_transfer_and_refused_hold(world: World) -> None:
    ws, _ = established(world)
    world.send(ws, "hold", {"callId": "c1", "holdForTransfer": True})
    offer = world.phone_events_of(OfferReceived)[-1]
    world.phone.reject_offer(offer.session, world.now, 488)
    world.pump()
    assert world.statuses(ws, "c1")[-1] == "ESTABLISHED", "the SDK's UI recovers"
    assert world.media.held["c1"] is False


def test_hold_on_a_call_that_is_not_established(world: World) -> None:
    ws = world.connect()
    world.send(ws, "call", call_frame())
    world.send(ws, "hold", {"callId": "c1"})
    fail = world.received(ws, "fail")[-1]["data"][0]
    assert fail["apiMethod"] == "hold" and "not established" in fail["info"]
    world.send(ws, "hold", {"callId": "unknown"})        # ignored, like hangup
    assert len(world.received(ws, "fail")) == 1


# -- the SIP peer's re-offers ------------------------------------------------------------------------

def test_remote_hold_and_resume_are_reported_without_renegotiating_the_browser(world: World) -> None:
    ws, session = established(world)
    world.phone.reinvite(session, SIP_ANSWER.replace(b"a=sendrecv", b"a=sendonly"), world.now)
    world.pump()
    assert world.statuses(ws, "c1")[-1] == "HOLD" and world.media.held["c1"] is True
    world.phone.reinvite(session, SIP_ANSWER.replace(b"10012", b"10020"), world.now)
    world.pump()
    assert world.statuses(ws, "c1")[-1] == "ESTABLISHED"
    assert world.media.connected["c1"][0].sip_remote == ("127.0.0.1", 10020), "relay re-pointed"
    assert len(world.received(ws, "setRemoteSDP")) == 1, "never a second setRemoteSDP"


def test_reoffer_without_common_codec_is_refused_and_the_call_goes_on(world: World) -> None:
    ws, session = established(world)
    bad = SIP_ANSWER.replace(b"RTP/AVP 0 101", b"RTP/AVP 3").replace(b"a=rtpmap:0 PCMU/8000\r\n", b"")
    world.phone.reinvite(session, bad, world.now)
    world.pump()
    warning = world.last_response_headers("Warning")
    assert warning == ['305 127.0.0.1 "No common codecs"'], world.sip_log
    assert world.statuses(ws, "c1")[-1] == "ESTABLISHED" and world.gateway.calls


def test_offerless_reinvite_gets_our_offer(world: World) -> None:
    ws, session = established(world)
    world.phone.reinvite(session, None, world.now)
    world.pump()
    offer = answer_phone_offer(world, "sendrecv")
    assert parse_sdp(offer.sdp).media[0].proto == "RTP/AVP"
    assert world.statuses(ws, "c1")[-1] == "ESTABLISHED"


# -- transfer by the browser -------------------------------------------------------------------------

def test_blind_transfer_completes(world: World) -> None:
    ws, session = established(world)
    world.send(ws, "transfer", {"callId": "c1", "target": "1003"})
    refer = world.phone_events_of(ReferReceived)[-1]
    assert refer.target == "sip:1003@127.0.0.1"
    world.phone.accept_refer(refer.session, world.now)
    world.pump()
    world.phone.notify_refer(refer.session, 200, "OK", world.now)
    world.pump()
    events = [f["data"][0]["status"] for f in world.received(ws, "notifyTransferEvent")]
    assert events[0] == "PENDING" and "ACCEPTED" in events and events[-1] == "COMPLETED"
    finish = world.received(ws, "finish")[-1]["data"][0]
    assert (finish["status"], finish["info"]) == ("FINISH", "Transferred")
    assert world.phone_events_of(CallEnded)[-1].cause == "remote-bye"


def test_refused_transfer_keeps_the_call(world: World) -> None:
    ws, session = established(world)
    world.send(ws, "transfer", {"callId": "c1", "target": "1003"})
    refer = world.phone_events_of(ReferReceived)[-1]
    world.phone.reject_refer(refer.session, 603, world.now)
    world.pump()
    assert world.received(ws, "notifyTransferEvent")[-1]["data"][0]["status"] == "FAILED"
    assert world.statuses(ws, "c1")[-1] == "ESTABLISHED" and world.gateway.calls


def test_transfer_to_something_that_is_no_uri(world: World) -> None:
    ws, _ = established(world)
    world.send(ws, "transfer", {"callId": "c1", "target": "a b"})
    assert world.received(ws, "notifyTransferEvent")[-1]["data"][0]["status"] == "FAILED"
    assert "Invalid callee" in world.received(ws, "fail")[-1]["data"][0]["info"]


# -- transfer by the SIP peer ------------------------------------------------------------------------

def test_sip_peer_transfers_the_browser_to_another_party(world: World) -> None:
    ws, session = established(world)
    calls_before = len(world.phone_events_of(IncomingCall))
    world.phone.refer(session, "sip:1003@127.0.0.1:5060", world.now)
    world.pump()
    incoming = world.phone_events_of(IncomingCall)
    assert len(incoming) == calls_before + 1, "the gateway calls the transfer target"
    new = incoming[-1]
    assert new.request.request_uri.user == "1003"
    world.phone.answer(new.session, SIP_ANSWER.replace(b"10012", b"10030"), world.now)
    world.pump()
    progress = [e.state for e in world.phone_events_of(TransferProgress)]
    assert progress[-1] == "completed", progress
    ended = [e for e in world.phone_events_of(CallEnded) if e.session is session]
    assert ended, "the old dialog is ended"
    assert world.statuses(ws, "c1")[-1] == "ESTABLISHED" and not world.received(ws, "finish")
    assert world.media.connected["c1"][0].sip_remote == ("127.0.0.1", 10030)
    # the call continues on the new dialog: hanging up reaches the new party
    world.send(ws, "hangup", {"callId": "c1"})
    assert [e for e in world.phone_events_of(CallEnded) if e.session is new.session]


# -- DTMF and keyframes ------------------------------------------------------------------------------

def test_dtmf_as_rtp_events_or_info(world: World) -> None:
    ws, session = established(world)
    world.media.dtmf_ok = True
    world.send(ws, "sendDtmf", {"callId": "c1", "dtmf": "12#", "type": "RFC2833"})
    assert world.media.dtmf == [("c1", "12#")] and not world.phone_events_of(InfoReceived)
    world.media.dtmf_ok = False          # no telephone-event negotiated: INFO instead
    world.send(ws, "sendDtmf", {"callId": "c1", "dtmf": 5, "type": "RFC2833"})
    world.send(ws, "sendDtmf", {"callId": "c1", "dtmf": "*", "type": "INFO"})
    infos = world.phone_events_of(InfoReceived)
    assert [(i.content_type, i.body) for i in infos] == [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
        ("application/dtmf-relay", b"Signal=*\r\nDuration=160\r\n")]
    world.send(ws, "sendDtmf", {"callId": "c1", "dtmf": "x", "type": "RFC2833"})
    assert "invalid DTMF" in world.received(ws, "fail")[-1]["data"][0]["info"]


def test_dtmf_from_the_sip_side_is_kept_on_the_call(world: World) -> None:
    ws, session = established(world)
    world.phone.info(session, "application/dtmf-relay", b"Signal=7\r\nDuration=100\r\n", world.now)
    world.pump()
    world.gateway.media_event(DtmfDetected("c1", "#", "sip", 0.12), world.now)
    assert world.gateway.find_calls(callId="c1")[0]["dtmfReceived"] == "7#"


def test_keyframe_request_goes_out_as_sip_info(world: World) -> None:
    ws, session = established(world)
    world.gateway.media_event(KeyframeNeeded("c1"), world.now)
    world.pump()
    info = world.phone_events_of(InfoReceived)[-1]
    assert info.content_type == "application/media_control+xml" and b"picture_fast_update" in info.body


def test_rest_commands(world: World) -> None:
    ws, session = established(world)
    assert world.gateway.hold("nope", True, world.now) == "call nope not found"
    assert world.gateway.hold("c1", True, world.now) is None
    world.pump()
    answer_phone_offer(world, "recvonly")
    assert world.gateway.find_calls(callId="c1")[0]["status"] == "HOLD"
    assert world.gateway.send_dtmf("c1", "1", "INFO", world.now) is None
    assert world.gateway.transfer("c1", "1003", world.now) is None
    world.pump()
    assert world.phone_events_of(ReferReceived)
    assert world.phone_events_of(CallAnswered)
