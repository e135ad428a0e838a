"""ICE-lite responder: RFC 8445 §7.3 checks, §7.3.1.1 role conflicts, §7.3.2 nomination, RFC 7675."""

from __future__ import annotations

import pytest

from wcs.entropy import SeededEntropy
from wcs.webrtc import stun
from wcs.webrtc.errors import StunError
from wcs.webrtc.ice_lite import MAX_PAIRS, IceLiteAgent, SelectedPairChanged
from wcs.webrtc.stun import StunMessage

from .helpers import binding_request, check_response

UFRAG, PWD = "lite", "litepasswordlitepassword"
BROWSER = ("192.0.2.10", 50000)
OTHER = ("2001:db8::10", 50002)


def _agent() -> IceLiteAgent:
    return IceLiteAgent(UFRAG, PWD)


def test_success_response() -> None:
    agent = _agent()
    reply = agent.handle_stun(binding_request("lite:brow", PWD, tid=b"T" * 12), BROWSER, 1.0)
    assert reply is not None
    response = check_response(reply, PWD)
    assert (response.method, response.message_class) == (stun.BINDING, stun.SUCCESS_RESPONSE)
    assert response.transaction_id == b"T" * 12
    assert response.xor_mapped_address == BROWSER
    assert response.username is None  # RFC 5389 §10.1.2: MUST NOT contain USERNAME
    assert agent.selected == BROWSER and not agent.nominated
    assert agent.is_valid_source(BROWSER)
    assert agent.pairs[BROWSER].priority == 1853824767
    assert agent.events() == [SelectedPairChanged(BROWSER, False)]
    assert agent.events() == []


def test_ipv6_source_mapped() -> None:
    reply = _agent().handle_stun(binding_request("lite:b", PWD), OTHER, 0.0)
    assert reply is not None and check_response(reply, PWD).xor_mapped_address == OTHER


def test_nomination_and_consent() -> None:
    agent = _agent()
    agent.handle_stun(binding_request("lite:b", PWD), BROWSER, 0.0)
    agent.handle_stun(binding_request("lite:b", PWD, use_candidate=True), BROWSER, 0.1)
    assert agent.nominated and agent.selected == BROWSER
    assert agent.events() == [SelectedPairChanged(BROWSER, False), SelectedPairChanged(BROWSER, True)]
    # a check on another pair does not move a nominated selection
    agent.handle_stun(binding_request("lite:b", PWD), OTHER, 0.2)
    assert agent.selected == BROWSER and agent.events() == []
    # renewed nomination (consent checks may carry USE-CANDIDATE): no event
    agent.handle_stun(binding_request("lite:b", PWD, use_candidate=True), BROWSER, 10.0)
    assert agent.events() == []
    assert agent.consent_deadline() == 40.0 and agent.consent_deadline(5.0) == 15.0
    assert not agent.consent_expired(39.9)
    assert agent.consent_expired(40.0)
    assert agent.consent_expired(15.0, timeout=5.0)
    # nomination of another pair moves the selection
    agent.handle_stun(binding_request("lite:b", PWD, use_candidate=True), OTHER, 41.0)
    assert agent.selected == OTHER and agent.events() == [SelectedPairChanged(OTHER, True)]
    assert not agent.pairs[BROWSER].nominated
    assert not agent.consent_expired(41.5)


def test_most_recent_valid_pair_before_nomination() -> None:
    agent = _agent()
    agent.handle_stun(binding_request("lite:b", PWD), BROWSER, 0.0)
    agent.handle_stun(binding_request("lite:b", PWD), OTHER, 0.1)
    assert agent.selected == OTHER
    agent.handle_stun(binding_request("lite:b", PWD), OTHER, 0.2)
    assert agent.events() == [SelectedPairChanged(BROWSER, False), SelectedPairChanged(OTHER, False)]


def test_no_consent_judgement_without_pair() -> None:
    assert not _agent().consent_expired(1000.0)
    assert _agent().consent_deadline() is None


def test_checks_before_remote_credentials_are_answered() -> None:
    agent = _agent()
    assert agent.handle_stun(binding_request("lite:early", PWD), BROWSER, 0.0) is not None
    assert _remote(agent) == (None, None)  # only our half of USERNAME is checked
    agent.set_remote_credentials("early", "p" * 22)
    assert _remote(agent) == ("early", "p" * 22)


def _remote(agent: IceLiteAgent) -> tuple[str | None, str | None]:
    return agent.remote_ufrag, agent.remote_pwd


@pytest.mark.parametrize(
    ("request_bytes", "code", "reason", "signed"),
    [
        (binding_request("lite:b", PWD, integrity=False), 400,
         "missing USERNAME or MESSAGE-INTEGRITY", False),
        (StunMessage(stun.BINDING, stun.REQUEST, bytes(12)).encode(PWD.encode(), fingerprint=True), 400,
         "missing USERNAME or MESSAGE-INTEGRITY", False),
        (binding_request("other:b", PWD), 401, "USERNAME does not start with our ufrag", False),
        (binding_request("lit:b", PWD), 401, "USERNAME does not start with our ufrag", False),
        (binding_request("lite:b", "wrong-password"), 401, "MESSAGE-INTEGRITY mismatch", False),
        (binding_request("lite:b", PWD, controlling=False), 487, "peer is ICE-CONTROLLED too", True),
    ],
)
def test_error_responses(request_bytes: bytes, code: int, reason: str, signed: bool) -> None:
    agent = _agent()
    reply = agent.handle_stun(request_bytes, BROWSER, 0.0)
    assert reply is not None
    response = check_response(reply, PWD if signed else None)
    assert response.message_class == stun.ERROR_RESPONSE
    assert response.error_code is not None and response.error_code[0] == code
    assert agent.rejected == {reason: 1}
    assert agent.selected is None and not agent.is_valid_source(BROWSER)


def test_unknown_required_attribute_gets_420() -> None:
    request = StunMessage(stun.BINDING, stun.REQUEST, bytes(12)).add_text(stun.USERNAME, "lite:b")
    request.add(0x0031, b"\x00\x00\x00\x01")
    agent = _agent()
    reply = agent.handle_stun(request.encode(PWD.encode(), fingerprint=True), BROWSER, 0.0)
    assert reply is not None
    response = check_response(reply, PWD)
    assert response.error_code == (420, "Unknown Attribute")
    assert response.unknown_attributes == [0x0031]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (binding_request("lite:b", PWD, fingerprint=False), "STUN request without FINGERPRINT"),
        (StunMessage(0x003, stun.REQUEST, bytes(12)).encode(fingerprint=True),
         "unsupported STUN method 0x003"),
        (StunMessage(stun.BINDING, stun.SUCCESS_RESPONSE, bytes(12)).encode(fingerprint=True),
         "unexpected STUN response (an ICE-lite agent sends no requests)"),
        (b"\x00\x01\x00\x00garbage", "STUN message shorter than its 20-byte header"),
    ],
)
def test_dropped_without_answer(data: bytes, reason: str) -> None:
    with pytest.raises(StunError) as info:
        _agent().handle_stun(data, BROWSER, 0.0)
    assert info.value.reason == reason


def test_indication_is_ignored() -> None:
    data = StunMessage(stun.BINDING, stun.INDICATION, bytes(12)).encode(fingerprint=True)
    agent = _agent()
    assert agent.handle_stun(data, BROWSER, 0.0) is None
    assert agent.selected is None


def test_pair_table_is_bounded() -> None:
    agent = _agent()
    agent.handle_stun(binding_request("lite:b", PWD, use_candidate=True), BROWSER, 0.0)
    for i in range(MAX_PAIRS + 5):
        agent.handle_stun(binding_request("lite:b", PWD), ("192.0.2.99", 1000 + i), 1.0 + i)
    assert len(agent.pairs) == MAX_PAIRS
    assert agent.selected == BROWSER and BROWSER in agent.pairs


def test_generate_credentials() -> None:
    a = IceLiteAgent.generate(SeededEntropy(1))
    b = IceLiteAgent.generate(SeededEntropy(1))
    assert (a.local_ufrag, a.local_pwd) == (b.local_ufrag, b.local_pwd)
    assert len(a.local_ufrag) == 8 and len(a.local_pwd) == 24
    assert a.local_ufrag.isalnum() and a.local_pwd.isalnum()


def test_software_attribute() -> None:
    agent = IceLiteAgent(UFRAG, PWD, software="wcs")
    reply = agent.handle_stun(binding_request("lite:b", PWD), BROWSER, 0.0)
    assert reply is not None and check_response(reply, PWD).software == "wcs"
