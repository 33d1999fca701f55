"""Conversion to v1: ``compat.convert`` and ``ckpt migrate``.

It owns the draft a conversion starts from (``_draft``), the converter chain plugins
contribute (``_chain``), where an output goes (``_targets``), writing and verifying the v1
files bit for bit (``_v1write``, ``_plainvalues``, ``_bitwise``), and migrating whole trees
(``_tree``, ``_migrate``, ``_workers``); ``_convert`` converts one file, and ``_remote``
does both with object storage on either side. It reads every source through
``compat.engine`` and writes through ``checkpoint.CheckpointManager``. It may import
``checkpoint``, ``compat.host`` and ``compat.engine``; only the CLI sits above it.
"""
