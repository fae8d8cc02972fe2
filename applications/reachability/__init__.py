"""The ``reachability`` application: per-device up/down state on ``<prefix>.state``."""

from applications.reachability.app import Reachability, ReachabilitySettings

__all__ = ["Reachability", "ReachabilitySettings"]
