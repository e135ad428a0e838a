"""The gateway core against an in-memory registrar and SIP phone (fake clock, fake media)."""

from __future__ import annotations

import json

import pytest

from wcs.gateway.settings import Settings
from wcs.sdp.parse import parse_sdp
from wcs.sip.headers import Headers
from wcs.sip.message import Request, Response, parse_message
from wcs.sip.uacore import CallAnswered, CallEnded, CallProgress

from .harness import PHONE, World, sdp_file

AUDIO_OFFER = sdp_file("chromium156-websdk-audio-offer.sdp")
AV_OFFER = sdp_file("chromium156-websdk-audio-video-offer.sdp")
SIP_ANSWER = sdp_file("baresip-like-answer-pcmu.sdp").encode()
BROWSER_ANSWER = sdp_file("chromium-like-answer-incoming.sdp")
PHONE_OFFER = (b"v=0\r\no=- 7 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               b"m=audio 10000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
               b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n")


def call_frame(call_id: str = "c1", callee: object = "1002", sdp: str = AUDIO_OFFER,
               **extra: object) -> dict[str, object]:
    frame = {"callId": call_id, "incoming": False, "hasAudio": True, "hasVideo": False,
             "status": "PENDING", "mediaProvider": "WebRTC", "sdp": sdp, "caller": "1001",
             "callee": callee, "visibleName": "Alice"}
    frame.update(extra)
    return frame


@pytest.fixture
def world() -> World:
    return World()


# -- connection and registration ----------------------------------------------------------------

def test_connection_registers_and_echoes_user_data(world: World) -> None:
    ws = world.connect()
    assert world.names(ws) == ["getUserData", "registered"]
    user_data = world.received(ws, "getUserData")[0]["data"][0]
    assert user_data["sipLogin"] == "1001" and "sipPassword" not in user_data
    assert len(user_data["authToken"]) == 32 and user_data["sessionId"] == "/127.0.0.1:50000/127.0.0.1:8080"
    assert world.received(ws, "registered")[0]["data"][0]["status"] == "REGISTERED"
    assert "1001" in world.bindings and ";wcs=" in world.bindings["1001"]
    # 401 then 200: one challenge, one authorised retry
    assert [("Authorization" in r.headers) for r in world.registers] == [False, True]


@pytest.mark.parametrize(("field", "value"), [("sipLogin", "10 01"), ("sipLogin", "<1001>"),
                                              ("sipAuthenticationName", "a b"), ("sipDomain", "bad host"),
                                              ("sipPort", "70000")])
def test_bad_identity_is_refused_at_once(world: World, field: str, value: str) -> None:
    ws = world.open()
    payload = {"sipLogin": "1001", "sipAuthenticationName": "1001", "sipPassword": "pass1001",
               "sipDomain": "127.0.0.1", "sipPort": "5060", "sipRegisterRequired": True, field: value}
    world.send(ws, "connection", payload)
    assert world.names(ws) == ["fail"]
    fail = world.received(ws, "fail")[0]["data"][0]
    assert fail["field"] == field and field in fail["info"], fail
    assert ws in world.closed and not world.registers


def test_rejected_registration_fails_and_closes(world: World) -> None:
    ws = world.connect(password="wrong")
    assert world.names(ws) == ["getUserData", "fail"]
    fail = world.received(ws, "fail")[0]["data"][0]
    assert fail == {"apiMethod": "RegistrationStatusEvent", "status": "FAILED", "info": "401 Unauthorized"}
    assert ws in world.closed
    assert len(world.registers) == 2, "one authorised retry, never a loop"


def test_connection_without_registration(world: World) -> None:
    ws = world.connect(register=False)
    assert world.names(ws) == ["getUserData"] and not world.registers


def test_malformed_frames_get_fail_and_session_stays(world: World) -> None:
    ws = world.connect()
    world.send_raw(ws, "{not json")
    world.send(ws, "call", {"callId": 5})
    fails = [f["data"][0]["info"] for f in world.received(ws, "fail")]
    assert fails[0].startswith("Malformed frame")
    assert "Invalid 'call' payload" in fails[1] and "callId" in fails[1]
    world.send(ws, "call", call_frame())
    assert world.statuses(ws, "c1")[0] == "TRYING"


def test_unknown_and_informational_frames_are_accepted(world: World) -> None:
    ws = world.connect()
    for name in ("pushLogs", "sessionDebug", "submitBugReport", "someFutureMessage"):
        world.send(ws, name, {"x": 1})
    world.send(ws, "hangup", {"callId": "nonexistent"})
    world.send(ws, "sendData", {"operationId": "op1", "payload": {}})
    assert world.received(ws, "DataStatusEvent")[0]["data"][0] == {"operationId": "op1", "status": "ACCEPTED"}
    assert ws not in world.closed


def test_frames_before_connection(world: World) -> None:
    ws = world.open()
    world.send(ws, "call", call_frame())
    assert "first frame must be 'connection'" in world.received(ws, "fail")[0]["data"][0]["info"]


# -- outgoing calls -------------------------------------------------------------------------------

def test_outgoing_call_rings_answers_and_hangs_up(world: World) -> None:
    ws = world.connect()
    world.send(ws, "call", call_frame())
    assert world.statuses(ws, "c1") == ["TRYING"]
    incoming = world.phone_incoming()
    invite = incoming.request
    assert invite.request_uri.user == "1002" and invite.from_.display_name == "Alice"
    sip_offer = parse_sdp(invite.body)
    assert sip_offer.media[0].proto == "RTP/AVP" and "ice-ufrag" not in invite.body.decode()
    world.phone.ring(incoming.session, world.now)
    world.pump()
    assert world.statuses(ws, "c1") == ["TRYING", "RING"]
    world.phone.answer(incoming.session, SIP_ANSWER, world.now)
    world.pump()
    names = world.names(ws)
    assert names.index("setRemoteSDP") < names.index("talk")
    call_id, answer, initiator = world.received(ws, "setRemoteSDP")[0]["data"]
    assert call_id == "c1" and initiator is False
    assert "a=setup:passive" in answer and "a=ice-ufrag:gwUf" in answer and "a=candidate:" in answer
    assert world.statuses(ws, "c1") == ["TRYING", "RING", "ESTABLISHED"]
    plans = world.media.connected["c1"]
    assert plans[0].sip_remote == ("127.0.0.1", 10012)
    assert world.media.fingerprints["c1"][0][0] == "sha-256"
    assert world.phone_events_of(CallAnswered)

    world.send(ws, "hangup", {"callId": "c1"})
    finish = world.received(ws, "finish")[-1]["data"][0]
    assert finish["status"] == "FINISH" and finish["info"] == "Normal call clearing"
    ended = world.phone_events_of(CallEnded)
    assert ended and ended[-1].cause == "remote-bye"
    assert world.media.released == ["c1"]
    assert world.gateway.calls == []


def test_remote_hangup_finishes_the_call(world: World) -> None:
    ws = world.connect()
    world.send(ws, "call", call_frame())
    incoming = world.phone_incoming()
    world.phone.answer(incoming.session, SIP_ANSWER, world.now)
    world.pump()
    world.phone.cancel_or_bye(incoming.session, world.now)
    world.pump()
    assert world.statuses(ws, "c1")[-1] == "FINISH"


@pytest.mark.parametrize(("status", "reason", "expected"), [(486, "Busy Here", "BUSY"),
                                                            (600, "Busy Everywhere", "BUSY"),
                                                            (404, "Not Found", "FAILED"),
                                                            (603, "Decline", "FAILED")])
def test_final_failure_reaches_the_sdk_with_sip_status(world: World, status: int, reason: str,
                                                       expected: str) -> None:
    ws = world.connect()
    world.send(ws, "call", call_frame())
    world.phone.reject(world.phone_incoming().session, status, reason, world.now)
    world.pump()
    finish = world.received(ws, "finish")[-1]["data"][0]
    assert (finish["status"], finish["sipStatus"], finish["sipMessage"]) == (expected, status, reason)


@pytest.mark.parametrize(("callee", "info"), [("a b", "Invalid callee"), ("<1002>", "Invalid callee"),
                                              ("", "Invalid callee: it is empty"),
                                              ("1002@bad host", "Invalid callee")])
def test_callee_that_is_no_uri_fails_and_session_stays_usable(world: World, callee: str, info: str) -> None:
    ws = world.connect()
    world.send(ws, "call", call_frame(callee=callee))
    finish = world.received(ws, "finish")[-1]["data"][0]
    assert finish["status"] == "FAILED" and finish["info"].startswith(info), finish
    assert world.statuses(ws, "c1") == ["TRYING", "FAILED"]
    world.send(ws, "call", call_frame("c2"))
    assert world.phone_incoming().request.request_uri.user == "1002"


def test_callee_escaping_and_full_uris(world: World) -> None:
    ws = world.connect()
    world.send(ws, "call", call_frame("c1", callee="*97#"))
    assert world.phone_incoming().request.uri == "sip:*97%23@127.0.0.1"
    world.send(ws, "call", call_frame("c2", callee="sip:bob@127.0.0.1:5060"))
    assert world.phone_incoming().request.uri == "sip:bob@127.0.0.1:5060"


def test_malformed_sdp_fails_the_call(world: World) -> None:
    ws = world.connect()
    world.send(ws, "call", call_frame(sdp="v=0\r\nthis is not sdp\r\n"))
    finish = world.received(ws, "finish")[-1]["data"][0]
    assert finish["status"] == "FAILED" and finish["info"].startswith("Invalid SDP"), finish
    assert not world.phone_events


def test_no_common_codec_fails_with_wcs_wording(world: World) -> None:
    offer = AUDIO_OFFER.replace("m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
                                "m=audio 9 UDP/TLS/RTP/SAVPF 13")
    ws = world.connect()
    world.send(ws, "call", call_frame(sdp=offer))
    finish = world.received(ws, "finish")[-1]["data"][0]
    assert (finish["status"], finish["info"]) == ("FAILED", "No common codecs")


def test_no_media_ports_fails_the_call(world: World) -> None:
    world.media.fail_allocation = True
    ws = world.connect()
    world.send(ws, "call", call_frame())
    assert world.received(ws, "finish")[-1]["data"][0]["info"] == "No free media ports"


def test_sip_sdp_lines_reach_the_invite(world: World) -> None:
    ws = world.connect()
    world.send(ws, "call", call_frame(sipSDP=["b=AS:3000", "b=TIAS:2500000"]))
    body = world.phone_incoming().request.body.decode()
    assert "\r\nc=IN IP4 127.0.0.1\r\nb=AS:3000\r\nb=TIAS:2500000\r\nt=0 0\r\n" in body


def test_invalid_sip_sdp_line_fails_the_call(world: World) -> None:
    ws = world.connect()
    world.send(ws, "call", call_frame(sipSDP=["not an sdp line"]))
    finish = world.received(ws, "finish")[-1]["data"][0]
    assert finish["status"] == "FAILED" and finish["info"].startswith("Invalid SDP"), finish


def test_early_media_answer_is_sent_once(world: World) -> None:
    ws = world.connect()
    world.send(ws, "call", call_frame())
    incoming = world.phone_incoming()
    world.phone.ring(incoming.session, world.now, SIP_ANSWER)
    world.pump()
    assert world.statuses(ws, "c1") == ["TRYING", "RING_MEDIA"]
    world.phone.answer(incoming.session, SIP_ANSWER, world.now)
    world.pump()
    assert len(world.received(ws, "setRemoteSDP")) == 1
    assert world.statuses(ws, "c1")[-1] == "ESTABLISHED"


def test_hangup_while_calling_cancels(world: World) -> None:
    ws = world.connect()
    world.send(ws, "call", call_frame())
    incoming = world.phone_incoming()
    world.phone.ring(incoming.session, world.now)
    world.pump()
    world.send(ws, "hangup", {"callId": "c1"})
    ended = world.phone_events_of(CallEnded)
    assert ended and ended[-1].cause == "cancelled"
    assert world.statuses(ws, "c1")[-1] == "FINISH"


def test_unreachable_callee_fails_by_request_timeout(world: World) -> None:
    ws = world.connect()
    world.blackhole = True
    world.send(ws, "call", call_frame())
    world.advance(31)
    assert world.statuses(ws, "c1") == ["TRYING"]
    world.advance(2)  # Timer B = 64*T1 = 32 s
    finish = world.received(ws, "finish")[-1]["data"][0]
    assert (finish["status"], finish["info"], finish["sipStatus"]) == \
        ("FAILED", "Failed by request timeout", 408)


def test_unanswered_outgoing_call_is_cancelled(world: World) -> None:
    world = World(Settings(address="127.0.0.1", public_address="127.0.0.1", ring_timeout=30))
    ws = world.connect()
    world.send(ws, "call", call_frame())
    world.phone.ring(world.phone_incoming().session, world.now)
    world.pump()
    world.advance(31)
    finish = world.received(ws, "finish")[-1]["data"][0]
    assert (finish["status"], finish["info"]) == ("FAILED", "No answer")
    assert world.phone_events_of(CallEnded)[-1].cause == "cancelled"


# -- incoming calls ------------------------------------------------------------------------------

def place_incoming(world: World) -> tuple[str, str]:
    ws = world.connect()
    session = world.phone.invite(world.phone_account(), world.bindings["1001"], PHONE_OFFER, world.now)
    world.pump()
    call_id = world.received(ws, "notifyIncomingCall")[0]["data"][0]["callId"]
    assert session
    return ws, call_id


def test_incoming_call_offer_reaches_the_sdk_before_the_notification(world: World) -> None:
    ws, call_id = place_incoming(world)
    assert world.names(ws)[2:] == ["setRemoteSDP", "notifyIncomingCall", "ring"]
    notify = world.received(ws, "notifyIncomingCall")[0]["data"][0]
    assert notify == {"callId": call_id, "incoming": True, "caller": "1002", "callee": "1001",
                      "visibleName": "Phone 1002", "status": "RING", "hasAudio": True, "hasVideo": False,
                      "mediaProvider": "WebRTC"}
    offer = world.received(ws, "setRemoteSDP")[0]["data"][1]
    assert "a=setup:actpass" in offer and "UDP/TLS/RTP/SAVPF" in offer
    assert [e.status for e in world.phone_events_of(CallProgress)] == [180]


def test_incoming_call_answered_in_the_browser(world: World) -> None:
    ws, call_id = place_incoming(world)
    world.send(ws, "answer", {"callId": call_id, "incoming": True, "hasVideo": True, "hasAudio": True,
                              "status": "PENDING", "mediaProvider": "WebRTC", "sdp": BROWSER_ANSWER,
                              "callee": "1001"})
    answered = world.phone_events_of(CallAnswered)
    assert answered and answered[-1].sdp is not None
    sip_answer = parse_sdp(answered[-1].sdp)
    assert sip_answer.media[0].proto == "RTP/AVP" and sip_answer.media[0].port == 41000
    assert world.statuses(ws, call_id)[-1] == "ESTABLISHED"
    assert world.media.fingerprints[call_id][0][1].startswith("5E:2A:91")


def test_incoming_call_rejected_in_the_browser(world: World) -> None:
    ws, call_id = place_incoming(world)
    world.send(ws, "hangup", {"callId": call_id})
    ended = world.phone_events_of(CallEnded)
    assert ended and (ended[-1].cause, ended[-1].status) == ("rejected", 486)
    assert world.statuses(ws, call_id)[-1] == "FINISH"


def test_incoming_call_cancelled_by_the_caller(world: World) -> None:
    ws, call_id = place_incoming(world)
    session = world.phone_events_of(CallProgress)[-1].session
    world.phone.cancel_or_bye(session, world.now)
    world.pump()
    assert world.statuses(ws, call_id)[-1] == "FINISH"
    assert world.phone_events_of(CallEnded)[-1].status == 487


def test_incoming_call_for_nobody_gets_404(world: World) -> None:
    world.connect()
    world.phone.invite(world.phone_account(), "sip:1009@127.0.0.1:5070", PHONE_OFFER, world.now)
    world.pump()
    assert world.phone_events_of(CallEnded)[-1].status == 404


def test_unanswered_incoming_call_times_out(world: World) -> None:
    world = World(Settings(address="127.0.0.1", public_address="127.0.0.1", ring_timeout=20))
    ws, call_id = place_incoming(world)
    world.advance(21)
    assert world.statuses(ws, call_id)[-1] == "FINISH"
    assert world.phone_events_of(CallEnded)[-1].status == 480


# -- keep-alive, reconnects and pings ------------------------------------------------------------

def test_keep_alive_session_survives_a_dropped_socket(world: World) -> None:
    ws = world.connect(keepAlive=True)
    token = world.received(ws, "getUserData")[0]["data"][0]["authToken"]
    world.send(ws, "call", call_frame())
    world.phone.answer(world.phone_incoming().session, SIP_ANSWER, world.now)
    world.pump()
    world.close(ws)
    assert [c.id for c in world.gateway.calls] == ["c1"], "the call goes on without the socket"
    ws2 = world.open("ws2")
    world.send(ws2, "connection", {"appKey": "defaultApp", "keepAlive": True, "authToken": token})
    assert world.names(ws2) == ["getUserData", "registered"]
    data = world.received(ws2, "getUserData")[0]["data"][0]
    assert data["authToken"] == token and data["sipLogin"] == "1001"


def test_keep_alive_session_expires(world: World) -> None:
    ws = world.connect(keepAlive=True)
    token = world.received(ws, "getUserData")[0]["data"][0]["authToken"]
    world.close(ws)
    world.advance(world.settings.client_timeout + 1)
    assert "1001" not in world.bindings, "un-REGISTER after the grace period"
    ws2 = world.open("ws2")
    world.send(ws2, "connection", {"authToken": token, "keepAlive": True})
    assert world.received(ws2, "fail")[0]["data"][0]["info"] == "Unknown or expired authToken"
    assert ws2 in world.closed


def test_socket_close_without_keep_alive_hangs_up_and_unregisters(world: World) -> None:
    ws = world.connect()
    world.send(ws, "call", call_frame())
    incoming = world.phone_incoming()
    world.phone.answer(incoming.session, SIP_ANSWER, world.now)
    world.pump()
    world.close(ws)
    assert world.phone_events_of(CallEnded)[-1].cause == "remote-bye"
    assert "1001" not in world.bindings and world.gateway.sessions == []


def test_server_pings_and_closes_after_missed_pongs(world: World) -> None:
    ws = world.connect()
    world.advance(5)
    assert world.received(ws, "ping")[0] == {"message": "ping", "data": [None]}
    world.send(ws, "pong")
    world.advance(5 * 10)
    assert ws not in world.closed
    world.advance(5 * 2)
    assert world.closed[ws][1] == "Keep-alive timeout"


def test_every_server_frame_has_data(world: World) -> None:
    ws, call_id = place_incoming(world)
    world.advance(6)
    for frame in world.frames[ws]:
        assert isinstance(frame["data"], list) and frame["data"], json.dumps(frame)


def test_incoming_offer_without_common_codec_gets_488_with_warning(world: World) -> None:
    ws = world.connect()
    offer = PHONE_OFFER.replace(b"RTP/AVP 8 0 101", b"RTP/AVP 3").replace(b"a=rtpmap:8 PCMA/8000\r\n", b"")
    world.phone.invite(world.phone_account(), world.bindings["1001"], offer, world.now)
    world.pump()
    ended = world.phone_events_of(CallEnded)[-1]
    assert (ended.status, ended.reason) == (488, "Not Acceptable Here")
    assert not world.received(ws, "notifyIncomingCall")
    final = [line for direction, line in world.sip_log if direction == "gateway" and " 488 " in line]
    assert final, world.sip_log
    assert world.last_response_headers("Warning") == ['305 127.0.0.1 "No common codecs"']


def test_incoming_invite_without_sdp_gets_our_offer_in_the_200(world: World) -> None:
    """Delayed offer (RFC 3261 §13.2.1): the browser gets an offer from our policy, its answer
    becomes our SIP offer in the 200 OK, the SIP answer arrives in the ACK and starts the media."""
    ws = world.connect()
    world.drop_from_phone = lambda data: data.startswith(b"ACK ")   # we send the ACK by hand
    world.phone.invite(world.phone_account(), world.bindings["1001"], b"", world.now)
    world.pump()
    call_id = world.received(ws, "notifyIncomingCall")[0]["data"][0]["callId"]
    offer = world.received(ws, "setRemoteSDP")[0]["data"][1]
    assert "a=setup:actpass" in offer and "opus/48000/2" in offer
    world.send(ws, "answer", {"callId": call_id, "incoming": True, "hasVideo": False, "hasAudio": True,
                              "status": "PENDING", "mediaProvider": "WebRTC", "sdp": BROWSER_ANSWER})
    assert call_id not in world.media.connected, "no media before the SIP answer"
    ok = parse_message(world.gateway_messages[-1])
    assert isinstance(ok, Response) and ok.status == 200
    sip_offer = parse_sdp(ok.body)
    assert sip_offer.media[0].proto == "RTP/AVP" and sip_offer.media[0].formats[:2] == ["8", "0"]
    contact = ok.contact
    assert contact is not None
    ack = Request("ACK", str(contact.uri), Headers([
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKack1"), ("Max-Forwards", "70"),
        ("From", ok.headers.get("From") or ""), ("To", ok.headers.get("To") or ""),
        ("Call-ID", ok.call_id), ("CSeq", f"{ok.cseq.seq} ACK"), ("Content-Type", "application/sdp")]),
        SIP_ANSWER.replace(b"RTP/AVP 0 101", b"RTP/AVP 0"))
    world.ua.receive_datagram(bytes(ack), PHONE, world.now)
    world.pump()
    assert world.statuses(ws, call_id)[-1] == "ESTABLISHED"
    assert world.media.connected[call_id][0].sip_remote == ("127.0.0.1", 10012)


def test_delayed_offer_without_answer_in_the_ack_fails(world: World) -> None:
    ws = world.connect()
    world.phone.invite(world.phone_account(), world.bindings["1001"], b"", world.now)
    world.pump()
    call_id = world.received(ws, "notifyIncomingCall")[0]["data"][0]["callId"]
    world.send(ws, "answer", {"callId": call_id, "incoming": True, "hasVideo": False, "hasAudio": True,
                              "status": "PENDING", "mediaProvider": "WebRTC", "sdp": BROWSER_ANSWER})
    finish = world.received(ws, "finish")[-1]["data"][0]
    assert (finish["status"], finish["info"]) == ("FAILED", "Invalid SDP: No SDP answer in the ACK")
    assert world.phone_events_of(CallEnded)[-1].cause == "remote-bye"
