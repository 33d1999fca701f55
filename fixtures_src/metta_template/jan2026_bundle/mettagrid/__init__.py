"""Stand-in ``mettagrid`` package (``base_config`` and ``policy.submission``)."""
