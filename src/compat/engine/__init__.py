"""The safe loading engine: ``compat.inspect`` and ``compat.load``, which never run a file.

It owns recognising containers (``_containers``), the static scan of pickles (``_scan``),
the allowlist and its vetted callables (``_allowlist``, ``_rebuild``, ``_deferred``), the
inert unpicklers and their placeholders (``_inert``, ``_placeholder``), legacy-stream
storages (``_legacy_storages``), safetensors (``_safetensors``), and recovering weights,
metadata and trainer state from an object graph (``_recover``, ``_plaindata``,
``_materialisers``); ``_safe`` puts them together. Torch's tensor machinery and zip records
come from ``checkpoint`` (``_tensorpickle``, ``_ziparchive``), shared with the manager's own
weights-only reader. It may import ``checkpoint`` and ``compat.host``, nothing above.
"""
