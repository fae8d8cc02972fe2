"""netfeed: collect network-element telemetry and move it over a pub-sub bus to applications."""

from bus.version import __version__ as __version__
