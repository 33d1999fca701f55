"""Stand-in for the ``tensordict`` package: only ``tensordict.nn.common.TensorDictModule``."""
