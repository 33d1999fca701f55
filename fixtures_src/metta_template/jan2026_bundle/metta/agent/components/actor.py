"""``ActionProbsConfig``: the logits-to-actions component (no parameters)."""

from metta.agent.components.component_config import ComponentConfig


class ActionProbsConfig(ComponentConfig):
    in_key: str
    name: str = "action_probs"
