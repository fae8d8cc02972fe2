"""NETCONF reply bytes -> one namespace-free ``<data>`` element, safely.

Replies come in three shapes (whole ``<rpc-reply>``, the ``<data>`` element
only, a bare Junos RPC payload such as ``<interface-information>``); all
become one ``<data>`` element whose children are the top-level payloads, so
profile paths start at the same place whatever the envelope was.  Several
replies (one dataset read with several RPCs) are merged into one ``<data>``.

Safety: the parser refuses DTDs, entities and network access
(``resolve_entities=False, no_network=True, load_dtd=False,
huge_tree=False``), and any ``<!DOCTYPE`` is rejected before parsing (no
billion laughs, no external entity, no DTD fetch).  Replies over
``max_bytes`` are refused unread.  Every problem is a :class:`NetconfError`
with a plain message, never an lxml traceback.

Namespaces: profiles match by local name (see :mod:`collectors.netconf.extract`),
so element names are stripped of their namespace here and the same path reads
a reply with or without ``xmlns``.  Text values are stripped of surrounding
whitespace (Junos puts every value on its own line).
"""

from __future__ import annotations

import re

from lxml import etree

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
NC_BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)


class NetconfError(Exception):
    """A NETCONF reply that cannot be used (malformed, hostile, too big, or an
    ``<rpc-error>``); the message says which, in plain words."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _local(tag: object) -> str | None:
    if not isinstance(tag, str):
        return None  # comment, processing instruction, entity
    return tag.rpartition("}")[2]


def parse(reply: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse one reply; returns its element tree with namespaces removed and
    text stripped (not yet normalised to ``<data>``: see :func:`data_root`)."""
    try:
        raw = reply.encode("utf-8") if isinstance(reply, str) else bytes(reply)
    except UnicodeEncodeError as exc:  # a lone surrogate: no XML text can hold it
        raise NetconfError(f"reply is not encodable text: {exc.reason}") from None
    if len(raw) > max_bytes:
        raise NetconfError(f"reply of {len(raw)} bytes is over the {max_bytes}-byte limit")
    if not raw.strip():
        raise NetconfError("empty reply")
    if _DOCTYPE.search(raw) or _ENTITY.search(raw):
        raise NetconfError("reply carries a DOCTYPE/ENTITY declaration; refused (NETCONF has none)")
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise NetconfError(f"malformed XML: {exc.msg} (line {exc.lineno})") from None
    except (ValueError, etree.LxmlError) as exc:
        raise NetconfError(f"unreadable XML: {exc}") from None
    if root is None:
        raise NetconfError("reply has no root element")
    for el in root.iter():
        name = _local(el.tag)
        if name is None:
            if isinstance(el, etree._Entity):
                raise NetconfError("reply uses an entity reference; refused")
            continue
        el.tag = name
        for attr in [a for a in el.attrib if a.startswith("{")]:  # junos:seconds -> seconds
            value = el.attrib.pop(attr)
            if attr.rpartition("}")[2] not in el.attrib:
                el.set(attr.rpartition("}")[2], value)
        if el.text is not None:
            el.text = el.text.strip()
        if el.tail is not None:
            el.tail = None
    etree.cleanup_namespaces(root)
    return root


def rpc_errors(root: etree._Element) -> list[str]:
    """Each ``<rpc-error>`` of a parsed reply as 'type/tag: message' (severity
    warning excluded)."""
    out = []
    for err in root.iter("rpc-error"):
        sev = err.findtext("error-severity") or "error"
        if sev == "warning":
            continue
        parts = [
            err.findtext("error-type") or "?",
            err.findtext("error-tag") or "?",
        ]
        msg = err.findtext("error-message") or ""
        path = err.findtext("error-path")
        out.append(
            f"{'/'.join(parts)}: {msg or '(no message)'}" + (f" (at {path})" if path else "")
        )
    return out


def data_root(root: etree._Element) -> etree._Element:
    """The ``<data>`` of a parsed reply, whichever of the three shapes it has;
    raises :class:`NetconfError` for an ``<rpc-error>`` reply."""
    errors = rpc_errors(root)
    if errors:
        raise NetconfError("device answered rpc-error: " + "; ".join(errors))
    name = root.tag
    if name == "rpc-reply":
        data = root.find("data")
        if data is not None:
            return data
        out = etree.Element("data")
        for child in root:
            if isinstance(child.tag, str) and child.tag != "ok":
                out.append(child)
        return out
    if name == "data":
        return root
    if name == "hello":
        raise NetconfError("a <hello> is not a data reply")
    out = etree.Element("data")
    out.append(root)
    return out


def parse_data(*replies: bytes | str, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """One ``<data>`` element holding the payloads of every reply, in order."""
    if len(replies) == 1:
        return data_root(parse(replies[0], max_bytes=max_bytes))
    out = etree.Element("data")
    for reply in replies:
        for child in list(data_root(parse(reply, max_bytes=max_bytes))):
            out.append(child)
    return out


def hello_capabilities(hello: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[str]:
    """The capability URIs of a server ``<hello>``."""
    root = parse(hello, max_bytes=max_bytes)
    if root.tag != "hello":
        raise NetconfError(f"expected <hello>, got <{root.tag}>")
    return [c.text for c in root.iter("capability") if c.text]
