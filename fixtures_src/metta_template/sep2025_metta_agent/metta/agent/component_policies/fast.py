"""``metta.agent.component_policies.fast.Fast``: the default ("fast") ComponentPolicy, tiny."""

from __future__ import annotations

from torch import nn

from metta.agent.component_policy import ComponentPolicy
from metta.agent.lib.lstm import LSTM
from metta.agent.lib.nn_layer_library import Conv2d, Flatten, Linear
from metta.agent.lib.observation_normalizer import ObservationNormalizer

HIDDEN = 8
NUM_ACTIONS = 8  # noop_0, move_0, move_1, rotate_0..3, attack_0


class Fast(ComponentPolicy):
    def _build_components(self) -> dict[str, nn.Module]:
        grid = int(self.agent_attributes["obs_width"])
        norms = self.agent_attributes["feature_normalizations"]
        channels = max(norms) + 1
        cnn1 = Conv2d("cnn1", channels, grid, out_channels=4, kernel_size=3, stride=1)
        side = cnn1._out_tensor_shape[1]
        cnn2 = Conv2d("cnn2", 4, side, out_channels=4, kernel_size=1, stride=1)
        flattener = Flatten("obs_flattener", cnn2._out_tensor_shape)
        flat = flattener._out_tensor_shape[0]
        return {
            "obs_normalizer": ObservationNormalizer("obs_normalizer", norms),
            "cnn1": cnn1,
            "cnn2": cnn2,
            "obs_flattener": flattener,
            "fc1": Linear("fc1", flat, out_features=16),
            "encoded_obs": Linear("encoded_obs", 16, out_features=HIDDEN),
            "_core_": LSTM("_core_", HIDDEN, HIDDEN),
            "critic_1": Linear("critic_1", HIDDEN, out_features=HIDDEN, nonlinearity="nn.Tanh"),
            "_value_": Linear("_value_", HIDDEN, out_features=1, nonlinearity=None),
            "actor_1": Linear("actor_1", HIDDEN, out_features=HIDDEN),
            "_action_": Linear("_action_", HIDDEN, out_features=NUM_ACTIONS, nonlinearity=None),
        }
