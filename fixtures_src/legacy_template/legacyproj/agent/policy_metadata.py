"""``PolicyMetadata``: a ``dict`` subclass with attribute access, as in the Metta code base.

Being a dict subclass matters: pickle writes it as ``NEWOBJ`` followed by ``SETITEMS`` on the
new instance, which torch's weights-only unpickler refuses even when the class is allowlisted.
"""

from __future__ import annotations

from typing import Any


class PolicyMetadata(dict):  # type: ignore[type-arg]
    """Training metadata stored next to a policy."""

    def __getattr__(self, name: str) -> Any:
        # Raising AttributeError (not KeyError) keeps pickle's ``__getstate__``/``__reduce_ex__``
        # probing working.
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value
