"""Exported SavedModels shared by the export tests (exporting takes seconds)."""

import keras
import pytest

from tests.helpers import tiny, tiny_model
from tfdeeplab.evaluation.inference import InferenceSettings
from tfdeeplab.export.saved_model import export_saved_model
from tfdeeplab.export.serving import SegmentationServer
from tfdeeplab.models import build_model

# Two scales, flip and a window smaller than most test images: every part of the
# protocol is in the exported graph.
SETTINGS = InferenceSettings(
    scales=(0.75, 1.0), window=(161, 161), flip=True, tile_batch=4
)
CHANNEL_ORDER, MEAN = "bgr", (104.0, 116.0, 122.0)
VARIANTS = {
    "plain": {},
    # One export for both: deformable res5 units and multi-scale inputs (MSC).
    "dcn_msc": {"deformable_units": ("res5a", "res5b"), "msc_scales": (1.0, 0.5)},
}


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """A function variant -> (Keras model, SavedModel folder), exported once each."""
    cache = {}

    def export(variant: str):
        if variant not in cache:
            keras.utils.set_random_seed(4)
            config = tiny(tiny_model(), **VARIANTS[variant])
            model = build_model(config)
            server = SegmentationServer(
                model, SETTINGS, CHANNEL_ORDER, MEAN, config.num_classes
            )
            out = tmp_path_factory.mktemp("exported") / variant
            export_saved_model(server, out, {"labels.json": '{"num_classes": 5}\n'})
            cache[variant] = (model, out)
        return cache[variant]

    return export
