"""netfeed collectors: poll network elements and publish normalised records to the bus.

Imports ``bus``; never ``applications``.
"""

from bus.version import __version__ as __version__
