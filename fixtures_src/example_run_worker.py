"""Torch-side half of the bundled example run; runs INSIDE a throwaway old-torch venv.

``make_example_run.py`` runs ``example_run_worker.py OUT`` with the venv's interpreter: it
trains the legacy agent for three epochs and, as Metta's PolicyStore did, pickles a whole
``PolicyRecord`` per epoch as ``model_<epoch:04d>.pt`` and the trainer state (a pickled
``LegacyAdam`` object and counters) as ``trainer_state.pt``.

Python 3.8+ syntax only: the venvs run older interpreters than the project.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from legacy_worker import AGENT_CONFIG, SEED, install_legacy_package

EPOCHS = (1, 2, 3)
STEPS_PER_EPOCH = 256


def main(out: Path) -> int:
    sys.dont_write_bytecode = True  # no __pycache__ in the temp copy of the legacy package
    install_legacy_package()
    from legacyproj.agent.metta_agent import MettaAgent
    from legacyproj.agent.policy_metadata import PolicyMetadata
    from legacyproj.agent.policy_record import PolicyRecord
    from legacyproj.optim import LegacyAdam

    torch.manual_seed(SEED)
    agent = MettaAgent(AGENT_CONFIG)
    optimizer = LegacyAdam(agent.parameters(), lr=5e-4)
    grid = AGENT_CONFIG["obs_grid"]
    out.mkdir(parents=True)
    for epoch in EPOCHS:
        obs = torch.randn(4, AGENT_CONFIG["obs_channels"], grid, grid)
        logits, value = agent(obs)
        loss = logits.logsumexp(-1).mean() + value.pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        agent.updates += 1
        metadata = PolicyMetadata(
            agent_step=epoch * STEPS_PER_EPOCH,
            epoch=epoch,
            generation=0,
            train_time=round(epoch * 4.25, 2),
            score=round(0.2 * epoch, 2),
            eval_scores={"navigation": round(0.1 * epoch, 2)},
        )
        name = f"model_{epoch:04d}.pt"
        record = PolicyRecord(None, name, f"file://./legacy_run/{name}", metadata)
        record._cached_policy = agent
        torch.save(record, str(out / name))
    counters = {"epoch": EPOCHS[-1], "agent_step": EPOCHS[-1] * STEPS_PER_EPOCH}
    torch.save({"optimizer": optimizer, **counters}, str(out / "trainer_state.pt"))
    print(f"torch {torch.__version__} wrote {sorted(p.name for p in out.iterdir())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
