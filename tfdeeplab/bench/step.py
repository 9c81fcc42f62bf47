"""Training step speed: images/s, convolution FLOP/s against this machine's peak.

Three figures, measured in one run on synthetic batches (the input pipeline is the
`data` benchmark's business):
- ours: a recipe's model and `TrainStep` (the seed's loss, multipliers and update);
- the peer: tf-models-official's DeepLabV3 (dilated ResNet-101, ASPP, its own
  trainable BatchNorm) with a plain SGD step, same input, batch and precision;
- the dense-convolution peak: the best FLOP/s of a few ResNet-shaped convolutions in
  the recipe's compute dtype (float32, or bfloat16/float16 under mixed precision).

Only finite steps are timed: our model's frozen BatchNorm is first calibrated on
synthetic images (`tfdeeplab.models.calibration`; at least 257x257, so every
BatchNorm sees enough values whatever `--crop` is), and a non-finite loss in any
step, ours or the peer's, ends the benchmark with an error instead of a figure.

Our training FLOPs are counted from the model's convolutions in the traced forward
graph: forward, plus the weight gradient of trainable filters, plus the input
gradient where backpropagation continues below (`training_conv_flops`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from tfdeeplab.bench.arguments import BenchmarkError, non_negative_int, positive_int
from tfdeeplab.bench.table import emit
from tfdeeplab.bench.timing import median_seconds
from tfdeeplab.cli import add_override_argument
from tfdeeplab.config.shipped_recipes import SHIPPED_RECIPES

RECIPE = SHIPPED_RECIPES / "voc.yaml"
PEAK_SHAPES = (  # (spatial size, kernel, in channels, out channels, dilation)
    (41, 3, 256, 256, 1),
    (21, 1, 1024, 256, 1),
    (21, 3, 512, 512, 2),
)


def conv_peak_flops(repeats: int, dtype: str = "float32") -> float:
    """The best forward FLOP/s of `PEAK_SHAPES` convolutions, batch 4.

    Args:
        repeats: int. Timed calls per shape (the median counts).
        dtype: str. Compute dtype, the one the measured model computes in
            ("float32", "bfloat16" or "float16").

    Returns:
        float, FLOP/s.

    Example:
        >>> peak = conv_peak_flops(10, "bfloat16")
    """
    import tensorflow as tf

    best = 0.0
    for size, kernel, cin, cout, dilation in PEAK_SHAPES:
        x = tf.random.normal([4, size, size, cin], dtype=dtype)
        w = tf.random.normal([kernel, kernel, cin, cout], dtype=dtype)
        conv = tf.function(
            lambda x=x, w=w, d=dilation: tf.nn.convolution(
                x, w, padding="SAME", dilations=d
            )
        )
        seconds = median_seconds(lambda conv=conv: conv().numpy(), repeats, 2)
        flops = 2.0 * 4 * size * size * kernel * kernel * cin * cout
        best = max(best, flops / seconds)
    return best


def training_conv_flops(model, image_shape) -> float:
    """Convolution FLOPs of one training step on one image.

    Every convolution in the traced forward graph runs forward once; its weight
    gradient costs as much again when its filter is trainable, and its input gradient
    as much again when its input depends on a trainable weight (backpropagation
    continues below it). So the frozen stem costs 1x, the first trainable unit 2x and
    the rest 3x.

    Args:
        model: keras.Model. Called with `training=True`.
        image_shape: (height, width, channels) of one input image.

    Returns:
        float, FLOPs (a multiply-add counts two).

    Example:
        >>> flops = training_conv_flops(model, (321, 321, 3)) * batch_size
    """
    import tensorflow as tf

    forward = tf.function(
        tf.autograph.experimental.do_not_convert(lambda x: model(x, training=True))
    ).get_concrete_function(tf.TensorSpec([1, *image_shape], tf.float32))
    trainable = {id(_handle(v)) for v in model.trainable_variables}
    dependent = {  # graph tensors computed from a trainable weight
        internal.ref()
        for external, internal in forward.graph.captures
        if id(external) in trainable
    }
    total = 0.0
    for op in forward.graph.get_operations():
        if any(t.ref() in dependent for t in op.inputs):
            dependent.update(t.ref() for t in op.outputs)
        if op.type not in ("Conv2D", "Conv2DBackpropInput"):
            continue
        filters = op.inputs[1]
        if op.type == "Conv2D":
            data = op.inputs[0]
            flops = 2.0 * np.prod(op.outputs[0].shape[:3]) * np.prod(filters.shape)
        else:  # transposed conv: every input pixel meets the whole filter
            data = op.inputs[2]
            flops = 2.0 * np.prod(data.shape[:3]) * np.prod(filters.shape)
        passes = 1 + (filters.ref() in dependent) + (data.ref() in dependent)
        total += flops * passes
    return float(total)


def _handle(variable):
    """The resource handle a traced graph captures for a Keras (or tf) variable."""
    return getattr(variable, "value", variable).handle


def finite_steps(step, name: str):
    """`step` that records its losses, and a check that every one was finite."""
    losses = []

    def recorded():
        losses.append(step())

    def check():
        bad = [i for i, loss in enumerate(losses) if not np.isfinite(loss)]
        if bad:
            raise BenchmarkError(
                f"{name}: the loss of step {bad[0] + 1} of "
                f"{len(losses)} is {losses[bad[0]]}; a timing of "
                "non-finite steps would mean nothing"
            )

    return recorded, check


def _ours(recipe):
    """The recipe's model and train step, built as the trainer builds them, with
    the frozen BatchNorm calibrated on synthetic images."""
    import tensorflow as tf

    from tfdeeplab.models.calibration import calibrate_batch_norm, calibration_images
    from tfdeeplab.training.builder import build_training_state

    state = build_training_state(recipe, tf.distribute.get_strategy())
    batch = recipe.train.batch_size
    height, width = recipe.data.crop_size
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(size=(batch, height, width, 3)), tf.float32)
    labels = tf.constant(
        rng.integers(0, recipe.model.num_classes, (batch, height, width)), tf.int32
    )
    # Random weights with frozen BatchNorm at mean 0, variance 1 overflow at the
    # first update; calibrated, the timed steps compute on finite values.
    calibrate_batch_norm(state.model, calibration_images(height, width))
    return state.model, lambda: float(state.train_step((images, labels)))


def _official(crop_size, batch, num_classes, precision):
    """tf-models-official DeepLabV3: DilatedResNet-101 OS16, ASPP, SGD step.

    Built under `precision` (a Keras dtype policy name), as its own trainer would.
    """
    import tensorflow as tf
    import tf_keras
    from official.vision.modeling import segmentation_model
    from official.vision.modeling.backbones import resnet_deeplab
    from official.vision.modeling.decoders import aspp
    from official.vision.modeling.heads import segmentation_heads

    previous = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy(precision)
    try:
        backbone = resnet_deeplab.DilatedResNet(
            model_id=101,
            output_stride=16,
            input_specs=tf_keras.layers.InputSpec(shape=[None, *crop_size, 3]),
        )
        model = segmentation_model.SegmentationModel(
            backbone,
            aspp.ASPP(level=4, dilation_rates=[6, 12, 18]),
            segmentation_heads.SegmentationHead(num_classes, level=4, num_convs=0),
        )
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)
    optimizer = tf_keras.optimizers.SGD(1e-3, momentum=0.9)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(size=(batch, *crop_size, 3)), tf.float32)
    labels = tf.constant(rng.integers(0, num_classes, (batch, *crop_size)), tf.int32)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = model(images, training=True)["logits"]
            logits = tf.image.resize(tf.cast(logits, tf.float32), crop_size)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
            )
        variables = model.trainable_variables
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss

    return lambda: float(step())


def run(args: argparse.Namespace) -> None:
    import keras
    import tensorflow as tf

    from tfdeeplab.config import load_recipe

    # --batch decides the batch (the FLOP count and images/s use it), over any --set.
    overrides = [*args.overrides, f"train.batch_size={args.batch}"]
    if args.crop is not None:
        overrides.insert(0, f"data.crop_size=[{args.crop}, {args.crop}]")
    if args.xla:
        overrides.append("train.jit_compile=true")
    recipe = load_recipe(args.recipe, overrides)
    height, width = recipe.data.crop_size
    precision = recipe.train.mixed_precision
    model, ours = _ours(recipe)
    step_flops = training_conv_flops(model, (height, width, 3)) * args.batch
    peer = _official((height, width), args.batch, recipe.model.num_classes, precision)
    peak = conv_peak_flops(args.repeats, keras.DTypePolicy(precision).compute_dtype)
    ours, check_ours = finite_steps(ours, recipe.name)
    peer, check_peer = finite_steps(peer, "tf-models-official DeepLabV3")
    seconds = {
        f"ours ({recipe.name})": median_seconds(ours, args.steps, args.warmup),
        "tf-models-official DeepLabV3": median_seconds(peer, args.steps, args.warmup),
    }
    check_ours()
    check_peer()
    ours_rate = args.batch / next(iter(seconds.values()))
    rows = []
    for name, value in seconds.items():
        rate = args.batch / value
        rows.append(
            {
                "model": name,
                "images_per_s": rate,
                "step_s": value,
                "ours_over_this": ours_rate / rate,
            }
        )
    rows[0]["conv_gflop_per_step"] = step_flops / 1e9
    rows[0]["conv_tflop_per_s"] = step_flops / seconds[rows[0]["model"]] / 1e12
    rows[0]["fraction_of_peak"] = step_flops / seconds[rows[0]["model"]] / peak
    rows.append({"model": "dense conv peak", "conv_tflop_per_s": peak / 1e12})
    emit(
        "step",
        rows,
        [
            "model",
            "images_per_s",
            "step_s",
            "ours_over_this",
            "conv_gflop_per_step",
            "conv_tflop_per_s",
            "fraction_of_peak",
        ],
        {
            "recipe": str(args.recipe),
            "crop": f"{height}x{width}",
            "batch": args.batch,
            "precision": precision,
            "steps": args.steps,
            "xla": args.xla,
            "cores": os.cpu_count(),
            "devices": ",".join(
                d.device_type for d in tf.config.list_logical_devices()
            ),
            "tensorflow": tf.__version__,
        },
        args.json,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", type=Path, default=RECIPE, help="recipe YAML")
    parser.add_argument(
        "--crop",
        type=positive_int,
        default=None,
        help="square crop size (default: the recipe's)",
    )
    parser.add_argument("--batch", type=positive_int, default=2, help="images per step")
    parser.add_argument("--steps", type=positive_int, default=5, help="timed steps")
    parser.add_argument(
        "--warmup", type=non_negative_int, default=2, help="untimed steps first"
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=10, help="peak conv repeats"
    )
    parser.add_argument("--xla", action="store_true", help="train.jit_compile=true")
    add_override_argument(parser, "train.mixed_precision=mixed_bfloat16")
