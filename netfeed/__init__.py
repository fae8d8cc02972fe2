"""netfeed: collect network-element telemetry and move it over a pub-sub bus to applications."""

__version__ = "0.1.0"
