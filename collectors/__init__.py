"""netfeed collectors: poll network elements and publish normalised records to the bus.

Imports ``bus``; never ``applications``.
"""

__version__ = "0.1.0"
