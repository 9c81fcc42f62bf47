"""Reading Keras Applications weight files (the legacy Keras HDF5 layout) with h5py.

The published ResNet50/101/152 files (`resnet101_weights_tf_dim_ordering_tf_kernels.h5`
and `..._notop.h5`) store, at the root (or under `model_weights`), an attribute
`layer_names`; one group per layer whose attribute `weight_names` lists its weights
(`conv1_conv/kernel:0`, `conv1_bn/moving_mean:0`, ...), each a dataset at that path
inside the layer's group.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfdeeplab.weights.mxnet_params import WeightsFormatError


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_keras_h5(path: str | Path) -> dict[str, np.ndarray]:
    """Every weight of a legacy Keras `.h5` file, keyed `layer/weight`.

    Args:
        path: str or Path.

    Returns:
        dict like {"conv1_conv/kernel": array [7, 7, 3, 64], ...} (`:0` dropped).

    Raises:
        WeightsFormatError: one line, for a file that is not HDF5 or has no
            `layer_names` (e.g. a Keras 3 `.weights.h5`, which `--init` loads
            directly).

    Example:
        >>> weights = read_keras_h5("resnet101_weights_tf_dim_ordering_tf_kernels.h5")
        >>> weights["conv4_block23_3_bn/moving_variance"].shape
        (1024,)
    """
    import h5py

    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise WeightsFormatError(
            f"{path}: not an HDF5 file ({str(error).splitlines()[0]})"
        ) from None
    with handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        if "layer_names" not in root.attrs:
            raise WeightsFormatError(
                f"{path}: not a Keras Applications weights file (no layer_names); "
                "a Keras 3 .weights.h5 of this model loads with `init_weights` directly"
            )
        layers = list(map(_text, root.attrs["layer_names"]))
        if not layers:
            raise WeightsFormatError(f"{path}: its layer_names lists no layers")
        weights = {}
        for layer in layers:
            if layer not in root:
                raise WeightsFormatError(
                    f"{path}: layer_names names {layer!r}, which the file lacks; a "
                    "damaged or incomplete Keras weights file"
                )
            group = root[layer]
            for name in map(_text, group.attrs.get("weight_names", [])):
                if name not in group:
                    raise WeightsFormatError(
                        f"{path}: {layer}'s weight_names names {name!r}, which the "
                        "file lacks; a damaged or incomplete Keras weights file"
                    )
                key = name[: -len(":0")] if name.endswith(":0") else name
                if not key.startswith(layer + "/"):
                    key = f"{layer}/{key.rsplit('/', 1)[-1]}"
                weights[key] = np.asarray(group[name])
    return weights
