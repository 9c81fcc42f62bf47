"""Reading PyTorch state dicts (`.pth`); needs torch, and only for this format."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.weights.mxnet_params import WeightsFormatError


class TorchUnavailableError(TfdeeplabError, ImportError):
    """The torch format was asked for without torch installed."""


def read_torch_state(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a PyTorch state dict (a `{"state_dict": ...}` wrapper too).

    Raises:
        TorchUnavailableError: one line, without torch.
        WeightsFormatError: one line, for a file torch cannot read as a state dict.

    Example:
        >>> state = read_torch_state("deeplabv2_resnet101_msc-cocostuff164k.pth")
    """
    try:
        import torch
    except ImportError:
        raise TorchUnavailableError(
            "--format torch needs PyTorch to read .pth files: pip install torch "
            "(CPU wheels suffice); the other formats need nothing"
        ) from None
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a bad file
        raise WeightsFormatError(
            f"{path}: not a PyTorch state dict ({str(error).splitlines()[0]})"
        ) from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsFormatError(f"{path}: not a PyTorch state dict")
    return {
        key: value.detach().cpu().numpy()
        for key, value in state.items()
        if hasattr(value, "detach")
    }
