"""Plain torch modules (no training library): work on torch 1.4 and later."""

import torch
from torch import nn


class TinyNet(nn.Module):
    """Conv + BatchNorm + Linear, with a persistent and a plain tensor attribute."""

    def __init__(self, in_channels=3, num_classes=4):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4 * 4 * 4, num_classes)
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))
        self.config = {"in_channels": in_channels, "num_classes": num_classes}

    def forward(self, x):
        self.calls += 1
        x = torch.relu(self.bn(self.conv(x)))
        return self.head(x.flatten(1))
