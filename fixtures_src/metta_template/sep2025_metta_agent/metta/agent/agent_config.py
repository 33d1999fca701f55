"""``metta.agent.agent_config.AgentConfig``: which registered architecture to build."""

from metta.common.config import Config


class AgentConfig(Config):
    name: str = "fast"
    clip_range: float = 0
    analyze_weights_interval: int = 300
