"""`python -m tfdeeplab.bench deform`: the deformable convolution's implementations.

Forward + backward (gradients of every input) of the res5 deformable convolution
shapes (N=2, 512 -> 512 channels, 3x3, dilation 2, padding 2, at 21x21 and 41x41,
1 and 4 deformable groups, with and without the DCN v2 mask), for the C++ custom op,
the pure-TensorFlow reference, and a plain dilated convolution of the same shape
(input and kernel gradients; `tf.nn.convolution`, what Keras runs: TensorFlow's
CPU kernels without oneDNN have no `tf.nn.conv2d` filter gradient for a dilation
above 1), float32, each timed as the median of `--repeats` steps. Peak
memory is measured in a fresh process per implementation and shape: the highest
resident set (sampled every millisecond) during one step, minus the resident set
just before it, after everything else is set up.
Targets on a CPU: custom op at most 1.3x the plain convolution, at least 1.5x faster
than the reference, at most half the reference's peak memory.
"""

from __future__ import annotations

import argparse
import os

from tfdeeplab.bench.arguments import BenchmarkError, positive_int
from tfdeeplab.bench.fresh_process import call_in_fresh_process
from tfdeeplab.bench.table import emit
from tfdeeplab.bench.timing import PeakSampler, median_seconds, rss_bytes

IMPLEMENTATIONS = ("custom_op", "reference", "conv2d")
CHANNELS, BATCH, DILATION = 512, 2, 2


def training_step(implementation: str, size: int, groups: int, modulated: bool):
    """A traced forward + backward of one shape; returns a callable that runs it."""
    import tensorflow as tf

    from tfdeeplab.ops.deformable_conv import deformable_conv2d

    rng = tf.random.Generator.from_seed(0)
    inputs = rng.normal([BATCH, size, size, CHANNELS])
    kernel = rng.normal([3, 3, CHANNELS, CHANNELS]) * 0.02
    offsets = rng.uniform([BATCH, size, size, 2 * groups * 9], -2.0, 2.0)
    mask = rng.uniform([BATCH, size, size, groups * 9]) if modulated else None

    @tf.function
    def step():
        sources = [inputs, kernel]
        if implementation != "conv2d":
            sources += [offsets] + ([mask] if modulated else [])
        with tf.GradientTape() as tape:
            tape.watch(sources)
            if implementation == "conv2d":
                out = tf.nn.convolution(
                    inputs, kernel, padding="SAME", dilations=DILATION
                )
            else:
                out = deformable_conv2d(
                    inputs,
                    offsets,
                    kernel,
                    padding=DILATION,
                    dilation=DILATION,
                    deformable_groups=groups,
                    mask=mask,
                    implementation=implementation,
                )
            loss = tf.reduce_sum(out * out)
        return [tf.reduce_sum(g) for g in tape.gradient(loss, sources)]

    return lambda: [value.numpy() for value in step()]


def peak_memory(implementation: str, size: int, groups: int, modulated: bool) -> int:
    """Bytes the peak resident set grows by in one step, in a fresh process."""
    return call_in_fresh_process(
        "tfdeeplab.bench.deform", "_child", implementation, size, groups, modulated
    )


def _child(implementation: str, size: int, groups: int, modulated: bool) -> int:
    import tensorflow as tf

    step = training_step(implementation, size, groups, modulated)
    # Trace and build once on a tiny shape of the same kind, so the measured step
    # adds only its own tensors (the kernels, the graph, the thread pools exist).
    training_step(implementation, 5, groups, modulated)()
    tf.constant(0.0).numpy()
    before = rss_bytes()
    with PeakSampler() as sampler:
        step()
    return sampler.peak - before


def run(args: argparse.Namespace) -> None:
    import tensorflow as tf

    from tfdeeplab.ops.deformable_conv import deformable_conv_available

    if not deformable_conv_available():
        raise BenchmarkError("the deformable_conv kernels could not be built")
    rows = []
    for size in args.sizes:
        for groups in (1, 4):
            for modulated in (False, True):
                row = {
                    "size": f"{size}x{size}",
                    "groups": groups,
                    "mask": "yes" if modulated else "no",
                }
                for implementation in IMPLEMENTATIONS:
                    step = training_step(implementation, size, groups, modulated)
                    row[f"{implementation}_ms"] = 1000 * median_seconds(
                        step, args.repeats, warmup=2
                    )
                    if args.memory:
                        row[f"{implementation}_mb"] = (
                            peak_memory(implementation, size, groups, modulated) / 2**20
                        )
                row["custom_vs_conv2d"] = row["custom_op_ms"] / row["conv2d_ms"]
                row["reference_vs_custom"] = row["reference_ms"] / row["custom_op_ms"]
                if args.memory:
                    row["memory_custom_vs_reference"] = (
                        row["custom_op_mb"] / row["reference_mb"]
                    )
                rows.append(row)
    columns = [
        "size",
        "groups",
        "mask",
        "custom_op_ms",
        "reference_ms",
        "conv2d_ms",
        "custom_vs_conv2d",
        "reference_vs_custom",
    ]
    if args.memory:
        columns += [
            "custom_op_mb",
            "reference_mb",
            "conv2d_mb",
            "memory_custom_vs_reference",
        ]
    emit(
        "deform",
        rows,
        columns,
        {
            "batch": BATCH,
            "channels": CHANNELS,
            "dilation": DILATION,
            "repeats": args.repeats,
            "cores": os.cpu_count(),
            "tensorflow": tf.__version__,
        },
        args.json,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        type=positive_int,
        nargs="+",
        default=[21, 41],
        help="feature map sides (default 21 41: res5 of 321 crops "
        "at output stride 16 and 8)",
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=5,
        help="timed steps per figure (median)",
    )
    parser.add_argument(
        "--no-memory",
        dest="memory",
        action="store_false",
        help="skip the peak-memory processes",
    )
