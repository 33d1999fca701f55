"""``FastConfig`` / ``FastPolicy``: CNN encoder + LSTM core + actor and critic heads.

The policy's layers are wrapped in ``TensorDictModule`` (``actor_1.module.weight`` ...), as in
Metta. Sizes come from the config, so the fixtures use a toy-sized ``FastConfig``.
"""

from __future__ import annotations

from tensordict.nn.common import TensorDictModule as TDM
from torch import nn

from metta.agent.components.actor import ActionProbs, ActionProbsConfig
from metta.agent.components.cnn_encoder import CNNEncoder, CNNEncoderConfig
from metta.agent.components.lstm import LSTM, LSTMConfig
from metta.agent.components.obs_shim import ObsShimBox, ObsShimBoxConfig
from metta.agent.policy import Policy, PolicyArchitecture


class FastConfig(PolicyArchitecture):
    class_path: str = "metta.agent.policies.fast.FastPolicy"
    obs_shim_config: ObsShimBoxConfig = ObsShimBoxConfig(in_key="env_obs", out_key="obs_normalizer")
    cnn_encoder_config: CNNEncoderConfig = CNNEncoderConfig(
        in_key="obs_normalizer", out_key="encoded_obs"
    )
    lstm_config: LSTMConfig = LSTMConfig(
        in_key="encoded_obs", out_key="core", latent_size=128, hidden_size=128, num_layers=2
    )
    critic_hidden_dim: int = 1024
    actor_hidden_dim: int = 512
    action_probs_config: ActionProbsConfig = ActionProbsConfig(in_key="logits")


class FastPolicy(Policy):
    def __init__(
        self,
        config: FastConfig,
        obs_width: int,
        obs_height: int,
        feature_normalizations: dict[int, float],
        num_actions: int,
    ):
        super().__init__()
        self.config = config
        self.is_continuous = False
        self.active_action_names: list[str] = []
        self.num_active_actions = 100
        self.out_width = obs_width
        self.out_height = obs_height
        channels = max(feature_normalizations) + 1
        self.obs_shim = ObsShimBox(
            obs_width, obs_height, feature_normalizations, config.obs_shim_config
        )
        self.cnn_encoder = CNNEncoder(config.cnn_encoder_config, channels, obs_width, obs_height)
        self.lstm = LSTM(config.lstm_config)
        hidden = config.lstm_config.hidden_size
        self.actor_1 = TDM(
            nn.Linear(hidden, config.actor_hidden_dim), in_keys=["core"], out_keys=["actor_1"]
        )
        self.critic_1 = TDM(
            nn.Linear(hidden, config.critic_hidden_dim), in_keys=["core"], out_keys=["critic_1"]
        )
        self.critic_activation = nn.Tanh()
        self.value_head = TDM(
            nn.Linear(config.critic_hidden_dim, 1), in_keys=["critic_1"], out_keys=["values"]
        )
        self.actor_logits = TDM(
            nn.Linear(config.actor_hidden_dim, num_actions),
            in_keys=["actor_1"],
            out_keys=["logits"],
        )
        self.action_probs = ActionProbs(config.action_probs_config)
