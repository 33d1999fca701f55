"""The ``converters`` plugin: upgrade steps from legacy checkpoint formats to v1.

Each step is a small pure function on the plain-data draft that ``compat.convert`` builds
from a safely loaded file (see ``compat.Converter``); ``INDEX`` keys them by the
(format, version) they upgrade, Lightning-style, and the host chains them until the
draft reaches ``("v1", "1")``.
"""

from compat_converters._chain import INDEX

__all__ = ["INDEX"]
