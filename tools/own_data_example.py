"""The README's "Your own data" walkthrough, run end to end on a made-up folder.

    python tools/own_data_example.py [WORKDIR]   # default runs/own_data

Writes 240 demo scenes (textured objects of 4 classes on photos, 120x160) as an
`images/` folder of JPEGs and a `masks/` folder of palette PNGs with a classes file,
then runs the four commands of the README (convert, train the shipped recipe
`custom_small`, evaluate, export) and `predict` on the first four validation images,
and draws `docs/own_data_predictions.jpg`: each image, its mask and the prediction.
About 5 minutes on a 2-core CPU.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tfdeeplab.synthetic_datasets import write_folder_tree  # noqa: E402
from tfrecords_tools.folder import pair_files, split_items  # noqa: E402

CLASSES = "background\nsphere\nbox\nring\nstar\n"


def run(*command: str) -> None:
    print("$", " ".join(command), flush=True)
    subprocess.run([sys.executable, *command], check=True, cwd=ROOT)


def main(workdir: str = "runs/own_data") -> int:
    work = ROOT / workdir
    shutil.rmtree(work, ignore_errors=True)  # a fresh run each time
    folder = work / "my_photos"
    stems = [f"{i:04d}" for i in range(240)]
    images, masks, _ = write_folder_tree(
        folder, stems, mask_format="palette", size=(120, 160), seed=7
    )
    (folder / "classes.txt").write_text(CLASSES)
    shards, run_dir, exported = work / "shards", work / "run", work / "exported"
    data = f"data.root={shards}"
    run("-m", "tfrecords_tools.folder", "--images", str(images), "--masks",
        str(masks), "--classes", str(folder / "classes.txt"), "--val-fraction",
        "0.2", "--out", str(shards), "--report", "--quiet")  # fmt: skip
    run("-m", "tfdeeplab.train", "custom_small", "--workdir",
        str(run_dir), "--no-progress", "--set", data)  # fmt: skip
    run("-m", "tfdeeplab.evaluate", "custom_small", "--checkpoint",
        str(run_dir), "--no-progress", "--set", data)  # fmt: skip
    run("-m", "tfdeeplab.export", "custom_small", "--checkpoint",
        str(run_dir), "--out", str(exported), "--set", data)  # fmt: skip
    pairs = pair_files(images, masks)
    val = split_items(pairs, images, masks, val_fraction=0.2)[0]["val"]
    shown = [item.image for item in val[:4]]
    run("-m", "tfdeeplab.predict", "--saved-model", str(exported), "--force",
        *map(str, shown), "--out", str(work / "predictions"))  # fmt: skip
    rows = []
    for path in shown:
        image = np.asarray(Image.open(path).convert("RGB"))
        truth = np.asarray(Image.open(masks / f"{path.stem}.png").convert("RGB"))
        painted = work / "predictions" / f"{path.stem}.png"
        prediction = np.asarray(Image.open(painted).convert("RGB"))
        rows.append(np.concatenate([image, truth, prediction], axis=1))
    figure = ROOT / "docs" / "own_data_predictions.jpg"
    Image.fromarray(np.concatenate(rows, axis=0)).save(figure, quality=88)
    print(f"wrote {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
