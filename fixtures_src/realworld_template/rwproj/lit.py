"""LightningModules as a user project writes them (pytorch_lightning 1.9 and 2.0)."""

import dataclasses

import fsspec
import pytorch_lightning as pl
import torch
import torchmetrics
from torch import nn
from torch.nn import functional as F

from rwproj.enums import Mode, Stage


@dataclasses.dataclass
class OptimConf:
    """A structured OmegaConf config node (pickled with its dataclass as object_type)."""

    name: str = "adam"
    lr: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    step_size: int = 1
    gamma: float = 0.5


class TinyClassifier(pl.LightningModule):
    """4 features -> 3 classes; hparams hold a DictConfig, a structured config and enums."""

    def __init__(self, cfg, optim, mode=Mode.FAST, stage=Stage.MAIN, hidden=8):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Linear(4, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, 3)
        )
        self.train_acc = torchmetrics.Accuracy(task="multiclass", num_classes=3)

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.train_acc(logits, y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        self.log("train_acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        optim = self.hparams.optim
        optimizer = torch.optim.Adam(
            self.parameters(), lr=optim.lr, betas=(optim.beta1, optim.beta2)
        )
        scheduler = torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=optim.step_size, gamma=optim.gamma
        )
        return [optimizer], [{"scheduler": scheduler, "interval": "epoch", "name": "step_lr"}]


class RemoteLogged(nn.Module):
    """A module that keeps an fsspec filesystem (pickled via fsspec.spec.make_instance)."""

    def __init__(self, root):
        super().__init__()
        self.proj = nn.Linear(3, 2)
        self.fs = fsspec.filesystem("file")
        self.root = root

    def forward(self, x):
        return self.proj(x)
