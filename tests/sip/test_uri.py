"""URIs and name-addr values (RFC 3261 §19.1, §20.10, §25.1; RFC 3966)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wcs.sip.errors import SipParseError
from wcs.sip.uri import NameAddr, SipUri, is_valid_user, parse_name_addr, parse_uri


def test_full_sip_uri() -> None:
    text = "sips:alice:secret@atlanta.example.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent"
    uri = parse_uri(text)
    assert uri.scheme == "sips"
    assert uri.user == "alice"
    assert uri.password == "secret"
    assert uri.host == "atlanta.example.com"
    assert uri.port == 5061
    assert uri.params == {"transport": "tcp", "lr": None}
    assert uri.headers == {"subject": "project x", "priority": "urgent"}
    assert uri.transport == "tcp"
    assert uri.is_sip
    assert str(uri) == text


def test_minimal_uri_and_defaults() -> None:
    uri = parse_uri("sip:example.com")
    assert (uri.user, uri.password, uri.host, uri.port, uri.params, uri.headers) == (
        None, None, "example.com", None, {}, {})
    assert str(uri) == "sip:example.com"
    assert str(SipUri(host="example.com", user="bob", port=5070)) == "sip:bob@example.com:5070"


def test_ipv6_reference_host_is_stored_without_brackets() -> None:
    uri = parse_uri("sip:alice@[2001:db8::1]:5060;transport=udp")
    assert uri.host == "2001:db8::1"
    assert uri.port == 5060
    assert uri.host_port == "[2001:db8::1]:5060"
    assert str(uri) == "sip:alice@[2001:db8::1]:5060;transport=udp"


def test_escapes_are_resolved_and_reapplied() -> None:
    # RFC 4475 §3.1.1.3: equivalent to sip:user@example.com / sip:caller@…;lr;name=value%41
    assert parse_uri("sip:%75se%72@example.com").user == "user"
    uri = parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert uri.user == "caller"
    assert uri.params == {"lr": None, "name": "value%41"}
    assert str(uri) == "sip:caller@host5.example.net;lr;name=value%2541"
    spaced = parse_uri("sip:I%20have%20spaces@example.net")
    assert spaced.user == "I have spaces"
    assert str(spaced) == "sip:I%20have%20spaces@example.net"
    assert parse_uri("sip:null-%00-null@example.com").user == "null-\x00-null"
    assert str(parse_uri("sip:null-%00-null@example.com")) == "sip:null-%00-null@example.com"


def test_user_part_may_hold_semicolons_and_question_marks() -> None:
    uri = parse_uri("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u@example.net"
    assert uri.host == "example.com"
    assert uri.params == {}
    weird = parse_uri("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
                      "(doesn't-it)@example.com")
    assert weird.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert weird.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"


def test_tel_uri() -> None:
    uri = parse_uri("tel:+1-201-555-0123;phone-context=example.com")
    assert uri.scheme == "tel"
    assert uri.user == "+1-201-555-0123"
    assert uri.params == {"phone-context": "example.com"}
    assert not uri.is_sip
    assert str(uri) == "tel:+1-201-555-0123;phone-context=example.com"


def test_other_schemes_are_kept_opaque() -> None:
    uri = parse_uri("nobodyKnowsThisScheme:totallyopaquecontent")
    assert uri.scheme == "nobodyknowsthisscheme"
    assert uri.opaque == "totallyopaquecontent"
    assert not uri.is_sip
    assert str(parse_uri("soap.beep://192.0.2.103:3002")) == "soap.beep://192.0.2.103:3002"


@pytest.mark.parametrize("text", [
    "", "sip:", "example.com", "<sip:user@example.com>", "sip:user@", "sip:us er@example.com",
    "sip:user@example.com:99999", "sip:user@example.com;", "sip:user@exa mple.com",
    "sip:user%4@example.com", "sip:user@example.com?", "sip:user@[2001:db8::1", "tel:xyz;x",
    "tel:", "http:", "isbn:<x>", "sip:user@example.com;lr extra",
])
def test_malformed_uris(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_uri(text)
    assert info.value.reason == "Malformed URI"
    assert info.value.status_code == 400


def test_is_valid_user() -> None:
    assert is_valid_user("alice")
    assert is_valid_user("+1-201;isub=x?a/b")
    assert not is_valid_user("")
    assert not is_valid_user("a b")
    assert not is_valid_user("a@b")
    assert not is_valid_user("a%20b")  # the percent sign itself must be escaped
    assert not is_valid_user("naïve")


def test_name_addr_forms() -> None:
    quoted = parse_name_addr('"Bob \\"the\\" Builder" <sip:bob@biloxi.com>;tag=a6c85cf')
    assert quoted.display_name == 'Bob "the" Builder'
    assert quoted.uri.user == "bob"
    assert quoted.tag == "a6c85cf"
    tokens = parse_name_addr("Alice  Liddell <sip:alice@atlanta.com>")
    assert tokens.display_name == "Alice  Liddell"
    assert tokens.tag is None
    bare = parse_name_addr("<sip:carol@chicago.com>")
    assert bare.display_name is None
    no_space = parse_name_addr("caller<sip:caller@example.com>;tag=323")
    assert no_space.display_name == "caller"
    assert no_space.tag == "323"


def test_addr_spec_parameters_belong_to_the_header() -> None:
    # RFC 3261 §20.10 / RFC 4475 §3.3.12: ";unknownparam" is a contact parameter here
    na = parse_name_addr("sip:+19725552222@gw1.example.net;unknownparam")
    assert na.uri.params == {}
    assert na.params == {"unknownparam": None}
    inside = parse_name_addr("<sip:+19725552222@gw1.example.net;unknownparam>")
    assert inside.uri.params == {"unknownparam": None}
    assert inside.params == {}


def test_name_addr_header_params_with_lws_and_quotes() -> None:
    na = parse_name_addr('"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam = newvalue ;  '
                         'secondparam ; q = 0.33')
    assert na.display_name == 'Quoted string ""'
    assert na.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    instance = parse_name_addr('<sip:a@b>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"')
    assert instance.params["+sip.instance"] == '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'


def test_name_addr_tag_setter_and_str() -> None:
    na = NameAddr(parse_uri("sip:bob@biloxi.com"), "Bob")
    na.tag = "xyz"
    assert str(na) == '"Bob" <sip:bob@biloxi.com>;tag=xyz'
    na.tag = None
    assert str(na) == '"Bob" <sip:bob@biloxi.com>'
    assert parse_name_addr(str(na)) == na


@pytest.mark.parametrize("text", [
    '"Mr. J. User <sip:j.user@example.com>',  # RFC 4475 quotbal
    "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",  # baddn
    '"Watson, Thomas" < sip:t.watson@example.org >',  # badaspec
    "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # regbadct (§20.10)
    '"Joe" <sip:joe@example.org>;;;;',  # badinv01
    "<sip:a@b", "", "   ", "<>", "<sip:a@b> junk",
])
def test_malformed_name_addrs(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_name_addr(text)
    assert info.value.reason == "Malformed name-addr"


_USER = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)


@given(_USER, st.sampled_from(["example.com", "192.0.2.1", "2001:db8::7"]),
       st.none() | st.integers(1, 65535))
def test_uri_round_trip(user: str, host: str, port: int | None) -> None:
    uri = SipUri("sip", user, None, host, port, {"transport": "tcp"})
    assert parse_uri(str(uri)) == uri


@given(st.text(max_size=60))
def test_parse_uri_only_raises_sip_parse_error(text: str) -> None:
    try:
        parse_uri(text)
    except SipParseError:
        pass


@given(st.text(max_size=60))
def test_parse_name_addr_only_raises_sip_parse_error(text: str) -> None:
    try:
        parse_name_addr(text)
    except SipParseError:
        pass
