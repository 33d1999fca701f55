"""Stand-in ``mettagrid`` package (only ``base_config``)."""
