"""NETCONF: XML replies -> the same normalised records SNMP produces.

This package has, so far, the part that needs no server: safe parsing of
reply bytes (:mod:`.xml`), the profile-driven extractor that fills the shared
field pipeline's source keys from XML (:mod:`.extract`), and the shipped
NETCONF profiles (``profiles/``, ``protocol: netconf``, matched by hello
capabilities).  Sessions (SSH, framing) and the driver entry point come later.
"""
