"""``interface-utilisation``: interface rates from counter deltas, top-N per network per cycle."""

from applications.utilisation.app import InterfaceUtilisation

__all__ = ["InterfaceUtilisation"]
