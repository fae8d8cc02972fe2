"""netfeed's bus: the record contract and the two transports (embedded, Kafka).

This package imports neither ``collectors`` nor ``applications``.
"""

from bus.api import BusError, BusMessage, Consumer, Producer
from bus.records import SCHEMA_VERSION, CycleComplete, Provenance, Record, decode, encode
from bus.version import __version__

__all__ = [
    "SCHEMA_VERSION",
    "BusError",
    "BusMessage",
    "Consumer",
    "CycleComplete",
    "Producer",
    "Provenance",
    "Record",
    "__version__",
    "decode",
    "encode",
]
