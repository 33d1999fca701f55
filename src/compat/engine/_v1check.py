"""Whether a v1 weights file is what the format promises: a pickle of tensors and nothing else.

A sidecar's sha256 vouches that the bytes did not change since commit, not that they were
ever harmless: someone who can write both files can commit a pickle of anything. So
``ckpt verify`` also reads the weights file's pickle statically and refuses any global
outside torch's tensor machinery. Torch-free (zip layout and scan only), so verifying v1
checkpoints still never imports torch.
"""

from __future__ import annotations

from pathlib import Path

from checkpoint._tensornames import weights_globals
from checkpoint._ziparchive import ZipLayout
from checkpoint.errors import UnreadableCheckpointError, UnsafeCheckpointError
from compat.engine._scan import scan_pickle

__all__ = ["require_plain_weights"]


def require_plain_weights(path: Path) -> None:
    """Raise ``UnsafeCheckpointError`` unless ``path``'s pickle names only tensor machinery
    (``UnreadableCheckpointError`` if it cannot be read as a torch zip archive)."""
    size = path.stat().st_size
    with path.open("rb") as file:
        layout = ZipLayout.of_file(file, path)
        data = bytes(layout.read(file, "data.pkl", size, path))
    try:
        scan = scan_pickle(data)
    except ValueError as exc:
        raise UnreadableCheckpointError(f"its pickle is corrupt ({exc})", path) from exc
    foreign = sorted(scan.globals - weights_globals())
    if foreign or scan.dynamic_calls:
        named = ", ".join(foreign) or "the result of a call, called"
        raise UnsafeCheckpointError(
            f"refused: a v1 weights file holds a plain state_dict, but its pickle names "
            f"{named}; nothing was run. Do not load it; restore the checkpoint from a backup",
            path,
        )
