"""Run an exported `.tflite` or `.onnx` file in its own runtime, without tfdeeplab.

This file imports only numpy and the runtime (LiteRT's `ai_edge_litert`, or
`onnxruntime`): the export runs it as a script in a fresh process, so "it loads"
means it loads where tfdeeplab (and TensorFlow) is not imported.

    python tfdeeplab/export/runtime_check.py FILE [--image IN.npy] [--outputs OUT.npz]
        [--repeats N]

Prints one JSON line: the runtime and its version, the inputs and outputs (name,
shape, dtype), the seconds of the first run, the median milliseconds of `--repeats`
more, and whether tfdeeplab or TensorFlow was imported (never, by design). Without
`--image` it runs a random uint8 image of the input's shape; `--outputs` saves
every output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


class Runner:
    """One model file in its runtime: `run({name: array}) -> {name: array}`."""

    def __init__(self, path: Path):
        self.path = path
        if path.suffix == ".tflite":
            from ai_edge_litert import interpreter as litert

            self.runtime = "LiteRT " + _version("ai-edge-litert")
            # All cores, as ONNX Runtime takes by default (LiteRT's default is 1).
            self._interpreter = litert.Interpreter(
                model_path=str(path), num_threads=os.cpu_count() or 1
            )
            runner = self._interpreter.get_signature_runner()
            details = runner.get_input_details()
            self.inputs = [_detail(name, d) for name, d in details.items()]
            self.outputs = [
                _detail(name, d) for name, d in runner.get_output_details().items()
            ]
            self._run = lambda feeds: runner(**feeds)
        elif path.suffix == ".onnx":
            import onnxruntime

            self.runtime = f"ONNX Runtime {onnxruntime.__version__}"
            session = onnxruntime.InferenceSession(
                str(path), providers=["CPUExecutionProvider"]
            )
            self.inputs = [_onnx_detail(i) for i in session.get_inputs()]
            self.outputs = [_onnx_detail(o) for o in session.get_outputs()]
            names = [o.name for o in session.get_outputs()]
            self._run = lambda feeds: dict(
                zip(names, session.run(None, feeds), strict=True)
            )
        else:
            raise ValueError(f"{path}: expected a .tflite or .onnx file")

    def run(self, feeds: dict) -> dict:
        """The outputs by name for inputs by name."""
        return {name: np.asarray(value) for name, value in self._run(feeds).items()}

    def random_feeds(self, seed: int = 0) -> dict:
        """A random uint8 image for each input."""
        rng = np.random.default_rng(seed)
        return {
            entry["name"]: rng.integers(0, 256, entry["shape"], dtype=np.uint8)
            for entry in self.inputs
        }


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def _detail(name, detail) -> dict:
    return {
        "name": name,
        "shape": [int(side) for side in detail["shape"]],
        "dtype": np.dtype(detail["dtype"]).name,
    }


_ONNX_TYPES = {"tensor(uint8)": "uint8", "tensor(int32)": "int32"}
_ONNX_TYPES.update({"tensor(float)": "float32", "tensor(int64)": "int64"})


def _onnx_detail(value) -> dict:
    return {
        "name": value.name,
        "shape": [int(side) for side in value.shape],
        "dtype": _ONNX_TYPES.get(value.type, value.type),
    }


def check(path: Path, image: Path | None, outputs: Path | None, repeats: int) -> dict:
    """Load `path`, run it once (and `repeats` more, timed); what it saw."""
    start = time.perf_counter()
    runner = Runner(path)
    feeds = runner.random_feeds()
    if image is not None:
        feeds = {runner.inputs[0]["name"]: np.load(image)}
    begin = time.perf_counter()
    results = runner.run(feeds)
    first = time.perf_counter() - begin
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        runner.run(feeds)
        times.append(time.perf_counter() - begin)
    if outputs is not None:
        np.savez(outputs, **results)
    return {
        "runtime": runner.runtime,
        "inputs": runner.inputs,
        "outputs": [
            {**entry, "ran_shape": list(results[entry["name"]].shape)}
            for entry in runner.outputs
        ],
        "load_and_first_run_s": time.perf_counter() - start,
        "first_run_s": first,
        "median_ms": 1000 * float(np.median(times)) if times else None,
        "tfdeeplab_imported": "tfdeeplab" in sys.modules,
        "tensorflow_imported": "tensorflow" in sys.modules,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--image", type=Path, help="a .npy of the input")
    parser.add_argument("--outputs", type=Path, help="save the outputs (.npz)")
    parser.add_argument("--repeats", type=int, default=0, help="timed runs")
    args = parser.parse_args(argv)
    print(json.dumps(check(args.file, args.image, args.outputs, args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
