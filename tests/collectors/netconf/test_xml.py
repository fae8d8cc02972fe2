"""Safe parsing of NETCONF replies: the three envelopes, Junos text, rpc-error,
and hostile input (each a clear NetconfError, fast, never an lxml traceback)."""

from __future__ import annotations

import time

import pytest

from collectors.netconf.xml import NetconfError, data_root, hello_capabilities, parse, parse_data

NS = 'xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"'


def test_three_envelopes_give_the_same_data_root() -> None:
    payload = '<interfaces xmlns="urn:x"><interface><name>ge-0/0/0</name></interface></interfaces>'
    whole = f'<rpc-reply {NS} message-id="1"><data>{payload}</data></rpc-reply>'
    data_only = f"<data {NS}>{payload}</data>"
    bare = "<interfaces><interface><name>ge-0/0/0</name></interface></interfaces>"
    for reply in (whole, data_only, bare):
        data = parse_data(reply)
        assert data.tag == "data"
        assert data.findtext("interfaces/interface/name") == "ge-0/0/0"


def test_rpc_reply_without_data_keeps_its_payloads() -> None:
    reply = (
        '<rpc-reply xmlns:junos="http://xml.juniper.net/junos/15.1F5/junos">'
        "<software-information><host-name>r1</host-name></software-information>"
        "<system-uptime-information><system-booted-time>"
        '<time-length junos:seconds="14234">03:57:14</time-length>'
        "</system-booted-time></system-uptime-information></rpc-reply>"
    )
    data = parse_data(reply)
    assert [c.tag for c in data] == ["software-information", "system-uptime-information"]
    # namespaced attributes lose their prefix like element names
    assert data.find(".//time-length").get("seconds") == "14234"


def test_junos_newline_wrapped_text_is_stripped() -> None:
    data = parse_data(
        "<interface-information><physical-interface><name>\nge-0/0/0\n</name>"
        "</physical-interface></interface-information>"
    )
    assert data.findtext("interface-information/physical-interface/name") == "ge-0/0/0"


def test_several_replies_merge_under_one_data() -> None:
    data = parse_data("<a><x>1</x></a>", f"<rpc-reply {NS}><data><b/></data></rpc-reply>")
    assert [c.tag for c in data] == ["a", "b"]


def test_namespaces_are_dropped_so_paths_are_local_names() -> None:
    with_ns = parse_data('<data xmlns="urn:a"><p:x xmlns:p="urn:p"><p:y>1</p:y></p:x></data>')
    without = parse_data("<data><x><y>1</y></x></data>")
    assert with_ns.findtext("x/y") == without.findtext("x/y") == "1"


def test_rpc_error_names_type_tag_and_message() -> None:
    reply = (
        f'<rpc-reply {NS} message-id="7"><rpc-error><error-type>application</error-type>'
        "<error-tag>invalid-value</error-tag><error-severity>error</error-severity>"
        "<error-message>syntax error, expecting &lt;interface&gt;</error-message>"
        "</rpc-error></rpc-reply>"
    )
    with pytest.raises(NetconfError, match=r"rpc-error: application/invalid-value: syntax error"):
        parse_data(reply)


def test_rpc_error_warning_alone_is_not_an_error() -> None:
    reply = (
        f"<rpc-reply {NS}><rpc-error><error-type>protocol</error-type><error-tag>x</error-tag>"
        "<error-severity>warning</error-severity></rpc-error><data><a>1</a></data></rpc-reply>"
    )
    assert parse_data(reply).findtext("a") == "1"


def test_hello_capabilities() -> None:
    hello = (
        '<nc:hello xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"><nc:capabilities>'
        "<nc:capability>urn:ietf:params:netconf:base:1.1</nc:capability>"
        "<nc:capability>http://cisco.com/ns/yang/Cisco-IOS-XR-pfi-im-cmd-oper?module=x&amp;revision=1"
        "</nc:capability></nc:capabilities></nc:hello>"
    )
    caps = hello_capabilities(hello)
    assert caps[1].endswith("module=x&revision=1")
    with pytest.raises(NetconfError, match="not a data reply"):
        data_root(parse(hello))


HOSTILE = {
    "broken": (b"<rpc-reply><data><a>1</b></data></rpc-reply>", "malformed XML"),
    "truncated": (b"<rpc-reply><data><a>1</a>", "malformed XML"),
    "empty": (b"  \n", "empty reply"),
    "not xml": (b"SSH-2.0-OpenSSH_8.0\r\n", "malformed XML"),
    "billion laughs": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
            for i in range(1, 10)
        )
        + b"]><lolz>&lol9;</lolz>",
        "DOCTYPE",
    ),
    "external entity": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<rpc-reply><data><a>&xxe;</a></data></rpc-reply>",
        "DOCTYPE",
    ),
    "external dtd": (
        b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><r/>',
        "DOCTYPE",
    ),
    "undeclared entity": (b"<rpc-reply><data><a>&xxe;</a></data></rpc-reply>", "malformed XML"),
    "undeclared prefix": (b"<rpc-reply><data><if:a>1</if:a></data></rpc-reply>", "malformed XML"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_is_a_clear_netconf_error(case: str) -> None:
    reply, words = HOSTILE[case]
    started = time.monotonic()
    with pytest.raises(NetconfError, match=words) as info:
        parse_data(reply)
    assert time.monotonic() - started < 2.0
    assert "Traceback" not in str(info.value)
    assert info.value.__cause__ is None  # no lxml exception chained into the message


def test_entity_is_refused_even_past_the_doctype_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser itself resolves no entity and reads no file, whatever the pre-check says."""
    import collectors.netconf.xml as ncxml

    monkeypatch.setattr(ncxml, "_DOCTYPE", ncxml.re.compile(rb"^$"))
    monkeypatch.setattr(ncxml, "_ENTITY", ncxml.re.compile(rb"^$"))
    reply = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
        b"<r><a>&xxe;</a></r>"
    )
    try:
        data = parse_data(reply)
    except NetconfError:
        return
    text = data.findtext("r/a") or ""
    assert text == "", f"external entity was resolved: {text!r}"


def test_reply_over_the_size_cap_is_refused_unread() -> None:
    big = b"<data>" + b"<a>1</a>" * 200_000 + b"</data>"
    with pytest.raises(NetconfError, match=r"over the 1000000-byte limit"):
        parse_data(big, max_bytes=1_000_000)
    assert parse_data(big, max_bytes=len(big)).find("a") is not None


def test_deep_nesting_is_an_error_not_a_hang() -> None:
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    started = time.monotonic()
    with pytest.raises(NetconfError):
        parse_data(deep)
    assert time.monotonic() - started < 5.0
