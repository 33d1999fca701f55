"""``ComponentConfig``: base of every component's pydantic config."""

from mettagrid.base_config import Config


class ComponentConfig(Config):
    name: str
