"""Write test vectors of our deformable convolution for `torchvision_parity.py`.

    python tools/deform_vectors.py vectors.npz

For several shapes (groups, stride, padding, dilation, DCN v2 mask), float64 inputs
with fractional offsets that push samples past every border, our custom op's output
and the gradients of input, offsets, kernel and mask for a random upstream gradient.
`torchvision_parity.py` recomputes them with `torchvision.ops.deform_conv2d` (on a
GPU where there is one) on a machine without TensorFlow.
"""

import sys

import numpy as np
import tensorflow as tf
from deform_cases import CASES

from tfdeeplab.ops.deformable_conv import deformable_conv2d_custom_op, output_size


def main(path: str) -> None:
    arrays = {}
    for index, case in enumerate(CASES):
        n, h, w, c, o, stride, pad, dilation, groups, modulated = case
        rng = np.random.default_rng(index)
        ho, wo = (
            output_size(h, 3, stride, pad, dilation),
            output_size(w, 3, stride, pad, dilation),
        )
        values = {
            "inputs": rng.normal(size=(n, h, w, c)),
            "offsets": rng.uniform(-3.5, 3.5, size=(n, ho, wo, 2 * groups * 9)),
            "kernel": rng.normal(size=(3, 3, c, o)),
        }
        if modulated:
            values["mask"] = rng.uniform(0, 1, size=(n, ho, wo, groups * 9))
        tensors = {key: tf.constant(value) for key, value in values.items()}
        upstream = tf.constant(rng.normal(size=(n, ho, wo, o)))
        with tf.GradientTape() as tape:
            tape.watch(list(tensors.values()))
            out = deformable_conv2d_custom_op(
                **tensors,
                strides=stride,
                padding=pad,
                dilation=dilation,
                deformable_groups=groups,
            )
        grads = tape.gradient(out, tensors, output_gradients=upstream)
        prefix = f"case{index}/"
        arrays[prefix + "config"] = np.array(case, np.int64)
        arrays[prefix + "upstream"] = upstream.numpy()
        arrays[prefix + "out"] = out.numpy()
        for key, value in values.items():
            arrays[prefix + key] = value
            arrays[prefix + "grad_" + key] = grads[key].numpy()
    np.savez(path, **arrays)
    print(f"wrote {len(CASES)} cases to {path}")


if __name__ == "__main__":
    main(sys.argv[1])
