"""Dense CRF post-processing (Krähenbühl and Koltun, NIPS 2011), as DeepLab v2 uses it.

A thin layer over the `pydensecrf2` package (module `pydensecrf`): unary energies
from the network's probabilities, a Gaussian smoothness kernel over positions and a
bilateral appearance kernel over positions and RGB colours, mean-field inference.
The defaults are SPEC §4's (DeepLab v2 paper, as the best-known port ran it): 10
iterations, Gaussian weight 3 and spatial sigma 1, bilateral weight 4, spatial
sigma 67 and colour sigma 3.
"""

from __future__ import annotations

import numpy as np

from tfdeeplab.errors import TfdeeplabError


class CrfUnavailableError(TfdeeplabError, ImportError):
    """The dense CRF package is not installed; the message says how to get it."""


def require_crf() -> None:
    """Check, before any work, that the CRF can run.

    Raises:
        CrfUnavailableError: one line naming the missing package.
    """
    try:
        import pydensecrf.densecrf  # noqa: F401
    except ImportError:
        raise CrfUnavailableError(
            "eval.crf.enabled needs the pydensecrf2 package (module pydensecrf): "
            "pip install pydensecrf2, or set eval.crf.enabled=false"
        ) from None


def dense_crf(
    probabilities: np.ndarray,
    rgb: np.ndarray,
    *,
    iterations: int = 10,
    gaussian_weight: float = 3.0,
    gaussian_xy: float = 1.0,
    bilateral_weight: float = 4.0,
    bilateral_xy: float = 67.0,
    bilateral_rgb: float = 3.0,
) -> np.ndarray:
    """Refine per-pixel class probabilities with a fully connected CRF.

    Args:
        probabilities: float [H, W, C], each pixel's class probabilities.
        rgb: uint8 [H, W, 3], the image as decoded (RGB, no mean subtracted).
        iterations: int. Mean-field iterations. Defaults to 10.
        gaussian_weight: float. Weight of the position-only kernel. Defaults to 3.
        gaussian_xy: float. Its spatial standard deviation (pixels). Defaults to 1.
        bilateral_weight: float. Weight of the position-and-colour kernel.
            Defaults to 4.
        bilateral_xy: float. Its spatial standard deviation. Defaults to 67.
        bilateral_rgb: float. Its colour standard deviation. Defaults to 3.

    Returns:
        float32 [H, W, C], the CRF's marginals (probabilities).

    Raises:
        CrfUnavailableError: without the pydensecrf2 package.

    Example:
        >>> refined = dense_crf(probabilities, example["rgb"])
        >>> labels = refined.argmax(-1)
    """
    require_crf()
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    height, width, classes = probabilities.shape
    crf = dcrf.DenseCRF2D(width, height, classes)
    channels_first = np.ascontiguousarray(
        np.transpose(probabilities, (2, 0, 1)), np.float32
    )
    crf.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(channels_first)))
    crf.addPairwiseGaussian(sxy=gaussian_xy, compat=gaussian_weight)
    crf.addPairwiseBilateral(
        sxy=bilateral_xy,
        srgb=bilateral_rgb,
        rgbim=np.require(rgb, np.uint8, ["C", "W"]),  # the C++ side wants writable
        compat=bilateral_weight,
    )
    marginals = np.asarray(crf.inference(iterations), np.float32)
    return marginals.reshape(classes, height, width).transpose(1, 2, 0)
