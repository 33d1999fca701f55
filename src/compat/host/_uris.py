"""Remote checkpoint URIs, resolved by whichever plugin serves their scheme."""

from __future__ import annotations

from pathlib import Path

from checkpoint.errors import UnresolvableURIError
from compat.host._pluginhost import get_host


def resolve_uri(uri: str) -> list[Path]:
    """The local files behind ``uri``, from the first plugin implementing ``compat_resolve_uri``."""
    paths = get_host().hook.compat_resolve_uri(uri=uri)
    if paths is None:
        scheme = uri.partition("://")[0]
        raise UnresolvableURIError(
            f"no enabled compat plugin resolves {scheme}:// URIs; install or enable one that "
            "implements the compat_resolve_uri hook (see 'Write your own plugin' in the README), "
            "or download the checkpoint and pass its local path",
            uri,
        )
    return [Path(path) for path in paths]
