"""Raw values as drivers hand them to the profile pipeline.

``int`` for numbers (SNMP INTEGER, counters, gauges, TimeTicks), ``bytes``
for octet strings, ``str`` for identifiers and addresses (dotted OIDs,
IpAddress) and for text a protocol already decoded.  A missing value is
absent from its mapping, never ``None``.
"""

Value = int | bytes | str
