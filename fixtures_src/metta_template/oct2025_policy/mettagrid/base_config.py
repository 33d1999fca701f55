"""``mettagrid.base_config.Config``: Metta's pydantic base model (``extra="forbid"``)."""

from pydantic import BaseModel, ConfigDict


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
