"""Train a tiny model with CheckpointManager, pick the best epoch, resume after a "crash".

    python examples/quickstart.py [--out DIR]

Everything is CPU-only and takes a few seconds.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from torch import nn

from checkpoint import CheckpointManager, register_agent_class


@register_agent_class
class TinyPolicy(nn.Module):
    """A two-layer MLP; ``checkpoint_config`` lets the manager rebuild it from a sidecar."""

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.hidden = hidden
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def checkpoint_config(self) -> dict[str, int]:
        return {"hidden": self.hidden}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def train(
    manager: CheckpointManager, epochs: range, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    """Train for ``epochs``, resuming from the latest trainer state if there is one."""
    model = TinyPolicy()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    agent_step = 0
    resumed = manager.load_trainer_state()
    if resumed is not None:
        model = manager.load_agent(resumed["epoch"])
        optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
        optimizer.load_state_dict(resumed["optimizer"])
        agent_step = resumed["agent_step"]
        torch.set_rng_state(resumed["extra"]["rng"])
        print(f"resumed from epoch {resumed['epoch']} (agent_step {agent_step})")
    inputs, targets = data
    for epoch in epochs:
        loss = nn.functional.mse_loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        agent_step += len(inputs)
        info = manager.save_agent(model, epoch, {"score": -loss.item(), "agent_step": agent_step})
        manager.save_trainer_state(
            optimizer, epoch, agent_step, extra={"rng": torch.get_rng_state()}
        )
        print(f"epoch {epoch:2d}  loss {loss.item():.4f}  -> {info.path.name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="run directory (default: a new temp dir)")
    args = parser.parse_args()
    run_dir = args.out or Path(tempfile.mkdtemp(prefix="ckpt-quickstart-"))

    torch.manual_seed(0)
    inputs = torch.randn(256, 4)
    data = (inputs, inputs.sum(dim=1, keepdim=True).sin())
    manager = CheckpointManager(run_dir, "quickstart", keep_last=2, keep_best=1)

    train(manager, range(0, 6), data)
    print("-- the trainer 'crashes'; a new process resumes --")
    train(manager, range(6, 10), data)

    kept = [info.epoch for info in manager.list()]
    best = manager.find_best_checkpoint()
    assert best is not None
    policy = manager.load_agent(best.epoch)
    print(
        f"kept epochs {kept} (keep_last=2 plus the best); best epoch {best.epoch} "
        f"score {best.metadata['score']:.4f}; rebuilt {type(policy).__name__}"
        f"(hidden={policy.hidden})"
    )
    for info in manager.list():
        manager.verify(info.epoch)
    print(f"all {len(kept)} checkpoints verified in {run_dir}")
    print(f"try: ckpt ls {run_dir}")


if __name__ == "__main__":
    main()
