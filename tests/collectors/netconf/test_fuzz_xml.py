"""Fuzzing NETCONF reply parsing with hypothesis: whatever a device sends,
:func:`parse`, :func:`parse_data` and :func:`hello_capabilities` return or
raise :class:`NetconfError` -- never an lxml or Unicode exception, never a hang."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.netconf.xml import NetconfError, hello_capabilities, parse, parse_data

FUZZ = settings(
    max_examples=300, deadline=5000, database=None, suppress_health_check=[HealthCheck.too_slow]
)
NS = 'xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"'
SEEDS = [
    f'<rpc-reply {NS} message-id="1"><data><interfaces xmlns="urn:x"><interface>'
    "<name>ge-0/0/0</name><enabled>true</enabled></interface></interfaces></data></rpc-reply>",
    f"<hello {NS}><capabilities><capability>urn:ietf:params:netconf:base:1.1</capability>"
    "</capabilities><session-id>4</session-id></hello>",
    f"<rpc-reply {NS}><rpc-error><error-type>rpc</error-type><error-tag>bad</error-tag>"
    "<error-severity>error</error-severity></rpc-error></rpc-reply>",
    '<rpc-reply xmlns:junos="http://xml.juniper.net/junos/15.1F5/junos"><x junos:seconds="1"'
    ' seconds="2">\n  t\n</x><!-- c --><?pi x?><![CDATA[<y>]]></rpc-reply>',
]
PIECES = st.sampled_from(
    ["<", ">", "</", "/>", "<a>", "</a>", "&amp;", "&#0;", "&#x110000;", "&x;", "<!DOCTYPE",
     "<!ENTITY", "<?xml version='1.0' encoding='latin-1'?>", "<?xml version=\"1.0\"?>",
     "xmlns:a='u'", "a:b", '"', "'", "]]>", "<![CDATA[", "\x00", "\ufeff", "\udc80"]
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 8)))
        text = text[:i] + draw(PIECES | st.text(max_size=4)) + text[j:]
    return text.encode("utf-8", "surrogatepass")


def check(reply: bytes | str) -> None:
    for fn in (parse, parse_data, hello_capabilities):
        try:
            fn(reply)
        except NetconfError as exc:
            assert str(exc)


@FUZZ
@given(st.binary(max_size=400) | mutated())
def test_any_bytes_as_a_reply(reply: bytes) -> None:
    check(reply)


@FUZZ
@given(st.text(max_size=200) | mutated().map(lambda b: b.decode("utf-8", "surrogatepass")))
def test_any_text_as_a_reply(reply: str) -> None:
    check(reply)
