"""``FastConfig`` (January 2026 fields: the LSTM core now lives in ``cortex_core_config``).

``FastPolicy`` here only builds a state_dict with the era's parameter names (``core.stack...``,
``actor_1.module.weight``, ``gtd_aux.module.weight`` ...); it is never pickled.
"""

from __future__ import annotations

from cortex.config import CortexStackConfig, LSTMCellConfig, PassThroughBlockConfig
from torch import nn

from metta.agent.components.actor import ActionProbsConfig
from metta.agent.components.cnn_encoder import CNNEncoder, CNNEncoderConfig
from metta.agent.components.cortex import CortexTD, CortexTDConfig
from metta.agent.components.obs_shim import ObsShimBox, ObsShimBoxConfig
from metta.agent.policy import PolicyArchitecture

_HIDDEN = 128


class FastConfig(PolicyArchitecture):
    class_path: str = "metta.agent.policies.fast.FastPolicy"
    obs_shim_config: ObsShimBoxConfig = ObsShimBoxConfig(in_key="env_obs", out_key="obs_normalizer")
    cnn_encoder_config: CNNEncoderConfig = CNNEncoderConfig(
        in_key="obs_normalizer", out_key="encoded_obs"
    )
    cortex_core_config: CortexTDConfig = CortexTDConfig(
        in_key="encoded_obs",
        out_key="core",
        d_hidden=_HIDDEN,
        out_features=_HIDDEN,
        key_prefix="fast_cortex_state",
        stack_cfg=CortexStackConfig(
            blocks=[PassThroughBlockConfig(cell=LSTMCellConfig())],
            d_hidden=_HIDDEN,
            post_norm=False,
        ),
    )
    critic_hidden_dim: int = 1024
    actor_hidden_dim: int = 512
    action_probs_config: ActionProbsConfig = ActionProbsConfig(in_key="logits")


class _Wrapped(nn.Module):
    """Parameter naming of ``tensordict.nn.TensorDictModule``: the layer sits in ``module``."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module


class FastPolicy(nn.Module):
    def __init__(
        self,
        config: FastConfig,
        obs_width: int,
        obs_height: int,
        feature_normalizations: dict[int, float],
        num_actions: int,
    ):
        super().__init__()
        channels = max(feature_normalizations) + 1
        self.obs_shim = ObsShimBox(feature_normalizations)
        self.cnn_encoder = CNNEncoder(config.cnn_encoder_config, channels, obs_width, obs_height)
        self.core = CortexTD(config.cortex_core_config)
        width = int(config.cortex_core_config.out_features or config.cortex_core_config.d_hidden)
        self.actor_1 = _Wrapped(nn.Linear(width, config.actor_hidden_dim))
        self.critic_1 = _Wrapped(nn.Linear(width, config.critic_hidden_dim))
        self.critic_activation = nn.Tanh()
        self.value_head = _Wrapped(nn.Linear(config.critic_hidden_dim, 1))
        self.gtd_aux = _Wrapped(nn.Linear(config.critic_hidden_dim, 1))
        self.actor_logits = _Wrapped(nn.Linear(config.actor_hidden_dim, num_actions))
