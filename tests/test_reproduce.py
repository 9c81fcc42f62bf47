"""reproduce end to end on a tiny VOC served over loopback: fetch, convert, train,
evaluate, reproduction.md with numbers; a second run reuses every step."""

import hashlib
import io
import json
import tarfile
import zipfile

import numpy as np
import pytest

from tests.helpers import TINY_MODEL, tiny_overrides
from tfdeeplab.catalog.published_results import PUBLISHED_RESULTS
from tfdeeplab.synthetic_datasets import voc_id, write_sbd_tree, write_voc_tree

pytestmark = pytest.mark.slow


def _tar_folder(folder, top: str, mode: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        archive.add(folder / top, arcname=top)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """(VOC tar bytes, SBD tgz bytes): 6 VOC train, 6 SBD train, 4 val images."""
    sources = tmp_path_factory.mktemp("sources")
    ids = [voc_id(index) for index in range(16)]
    write_voc_tree(sources, ids[:6], ids[12:], size=(40, 52), extra_image_ids=ids[6:12])
    write_sbd_tree(sources, ids[6:12], [], size=(40, 52))
    return (
        _tar_folder(sources, "VOCdevkit", "w"),
        _tar_folder(sources, "benchmark_RELEASE", "w:gz"),
    )


def _registry(path, base, voc: bytes, sbd: bytes):
    sha = lambda data: hashlib.sha256(data).hexdigest()  # noqa: E731
    path.write_text(
        f"""
voc2012:
  description: tiny VOC
  access: open
  licence: test
  layout: VOCdevkit/VOC2012
  files:
    - name: VOCtrainval_11-May-2012.tar
      sha256: {sha(voc)}
      unpack: tar
      urls: ["{base}/VOCtrainval_11-May-2012.tar"]
sbd:
  description: tiny SBD
  access: open
  licence: test
  layout: benchmark_RELEASE/dataset
  files:
    - name: benchmark.tgz
      sha256: {sha(sbd)}
      unpack: tgz
      urls: ["{base}/benchmark.tgz"]
resnet101_mxnet:
  description: the tiny model's ImageNet weights
  access: browser
  licence: test
  pin: mxnet
  files:
    - name: resnet_v1_101-0000.params
"""
    )
    return path


def test_reproduce_goes_from_nothing_to_the_table_and_reuses_every_step(
    archives, server, tmp_path, capsys
):
    from tfdeeplab.reproduce import main

    base, routes = server
    voc, sbd = archives
    routes.serve("/VOCtrainval_11-May-2012.tar", voc)
    routes.serve("/benchmark.tgz", sbd)
    registry = _registry(tmp_path / "registry.yaml", base, voc, sbd)
    overrides = tiny_overrides("unused", *TINY_MODEL, "data.num_train_images=12")
    overrides += ["train.max_steps=2", "eval.scales=[1.0]"]
    arguments = ["voc", "--data", str(tmp_path / "data"), "--runs", str(tmp_path)]
    arguments += ["--registry", str(registry), "--quiet"]
    arguments += ["--steps", "fetch,convert,train,evaluate", "--set", *overrides]
    assert main(arguments) == 0
    run = tmp_path / "voc"
    record = json.loads((run / "reproduction.json").read_text())
    assert 0 <= record["miou"] <= 100
    assert (record["paper_miou"], record["seed_miou"]) == (70.7, 70.45)
    assert record["images"] == 4 and len(record["class_iou"]) == 21
    assert list(record["steps"]) == ["fetch", "convert", "train", "evaluate"]
    assert not any(step["reused"] for step in record["steps"].values())
    assert record["images_per_second"] > 0 and record["code"].startswith("tfdeeplab ")
    table = (run / "reproduction.md").read_text()
    assert f"| `voc` | {record['miou']:.2f} | 70.70 | 70.45 |" in table
    assert "| background |" in table
    out = capsys.readouterr().out
    assert f"voc: mIoU {record['miou']} (paper 70.7, seed 70.45)" in out

    asked = len(routes.requests)
    assert main(arguments) == 0
    again = json.loads((run / "reproduction.json").read_text())
    assert all(step["reused"] for step in again["steps"].values())
    assert again["miou"] == record["miou"] and len(routes.requests) == asked
    assert again["images_per_second"] == record["images_per_second"]
    out = capsys.readouterr().out
    assert "reproduce voc: train reused" in out
    assert main([*arguments, "--dry-run"]) == 0
    planned = capsys.readouterr().out
    assert "  voc train: done, reused" in planned
    assert "  voc evaluate: done, reused" in planned


def test_only_the_seed_table_s_recipes_and_steps_are_taken(capsys):
    from tfdeeplab.reproduce import main

    assert main(["custom", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "custom: not a recipe of SPEC §1's table (reproducible: voc," in err
    assert main(["voc", "--steps", "fetch,trian", "--dry-run"]) == 2
    assert "--steps: unknown step 'trian'" in capsys.readouterr().err
    assert set(PUBLISHED_RESULTS) >= {"voc", "voc_scale16", "voc_dcn"}


def test_the_weight_import_step_fetches_pins_and_imports_the_initial_weights(
    archives, server, tmp_path, capsys, monkeypatch
):
    """`--from` holds the browser-only weight file; it is pinned (the tiny model's
    architecture), imported onto the recipe's model and trained from."""
    from tests.weights.formats import write_mxnet_params
    from tfdeeplab.catalog.resnet_layout import batch_norm_name
    from tfdeeplab.fetch import fetching
    from tfdeeplab.reproduce import main

    base, routes = server
    voc, sbd = archives
    routes.serve("/VOCtrainval_11-May-2012.tar", voc)
    routes.serve("/benchmark.tgz", sbd)
    registry = _registry(tmp_path / "registry.yaml", base, voc, sbd)
    architecture = {"depth": 50, "units_per_stage": (1, 1, 1, 1), "base_width": 64}
    monkeypatch.setattr(fetching, "PIN_ARCHITECTURE", architecture)
    shapes, _ = fetching.resnet_kernel_shapes(**architecture)
    rng = np.random.default_rng(0)
    folder = tmp_path / "browser"
    folder.mkdir()
    arrays = {}
    for layer, (h, w, i, o) in shapes.items():  # each convolution and its BatchNorm
        arrays[f"arg:{layer}_weight"] = rng.normal(0, 0.05, (o, i, h, w))
        bn = batch_norm_name(layer)
        arrays[f"arg:{bn}_gamma"], arrays[f"arg:{bn}_beta"] = np.ones(o), np.zeros(o)
        arrays[f"aux:{bn}_moving_mean"] = np.zeros(o)
        arrays[f"aux:{bn}_moving_var"] = np.ones(o)
    write_mxnet_params(folder / "resnet_v1_101-0000.params", arrays)
    overrides = tiny_overrides("unused", *TINY_MODEL, "data.num_train_images=12")
    overrides += ["train.max_steps=1", "eval.scales=[1.0]"]
    arguments = ["voc", "--data", str(tmp_path / "data"), "--runs", str(tmp_path)]
    arguments += ["--registry", str(registry), "--quiet", "--from", str(folder)]
    arguments += ["--set", *overrides]
    assert main(arguments) == 0
    out = capsys.readouterr().out
    assert "resnet101_mxnet/resnet_v1_101-0000.params: sha256" in out
    npz = tmp_path / "data" / "weights" / "resnet101_mxnet.npz"
    assert npz.is_file()
    assert f"initial weights from {npz}" in out
    record = json.loads((tmp_path / "voc" / "reproduction.json").read_text())
    assert list(record["steps"]) == ["fetch", "convert", "import", "train", "evaluate"]


def _zip_bytes(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _tiny_coco() -> dict:
    """{file name: bytes} of a COCO 2017 layout: 6 train and 3 val images of a
    person or a dog, and their instances files."""
    from PIL import Image

    from tests.helpers import CATEGORIES, H, W, annotation, box

    zips = {}
    for split, count in (("train", 6), ("val", 3)):
        images, members, annotations = [], {}, []
        for index in range(1, count + 1):
            name = f"{index:012d}.jpg"
            buffer = io.BytesIO()
            Image.new("RGB", (W, H), (30 * index, 90, 150)).save(buffer, "JPEG")
            members[f"{split}2017/{name}"] = buffer.getvalue()
            images.append({"id": index, "file_name": name, "height": H, "width": W})
            category = 1 if index % 2 else 18
            annotations.append(
                annotation(index, index, category, [box(2, 2, H - 2, W - 4)])
            )
        zips[f"{split}2017.zip"] = _zip_bytes(members)
        zips[f"instances_{split}2017.json"] = json.dumps(
            {"images": images, "annotations": annotations, "categories": CATEGORIES}
        ).encode()
    zips["annotations_trainval2017.zip"] = _zip_bytes(
        {
            f"annotations/{name}": zips.pop(name)
            for name in ("instances_train2017.json", "instances_val2017.json")
        }
    )
    return zips


def test_voc_aspp_msc_pretrains_on_coco_first_and_starts_from_that_run(
    archives, server, tmp_path, capsys
):
    from tfdeeplab.reproduce import main

    base, routes = server
    voc, sbd = archives
    routes.serve("/VOCtrainval_11-May-2012.tar", voc)
    routes.serve("/benchmark.tgz", sbd)
    coco = _tiny_coco()
    for name, data in coco.items():
        routes.serve(f"/coco/{name}", data)
    registry = _registry(tmp_path / "registry.yaml", base, voc, sbd)
    with open(registry, "a") as stream:
        stream.write(
            "coco2017:\n  description: tiny COCO\n  access: open\n  licence: test\n"
            "  files:\n"
            + "".join(
                f"    - name: {name}\n      sha256: {hashlib.sha256(d).hexdigest()}\n"
                f'      unpack: zip\n      urls: ["{base}/coco/{name}"]\n'
                for name, d in coco.items()
            )
        )
    small = ["model.depth=50", "model.units_per_stage=[1, 1, 1, 1]"]
    small += ["model.output_stride=16", "model.msc_scales=[]", "model.batch_norm=train"]
    small += ["model.frozen_stages=[]", "train.max_steps=2", "eval.scales=[1.0]"]
    small += ["eval.crf.enabled=false"]
    overrides = [*tiny_overrides("unused", *small), "data.num_train_images=12"]
    overrides.remove("train.max_steps=6")
    arguments = ["voc_aspp_msc", "--data", str(tmp_path / "data")]
    arguments += ["--runs", str(tmp_path), "--registry", str(registry), "--quiet"]
    arguments += ["--steps", "fetch,convert,train,evaluate", "--set", *overrides]
    assert main(arguments) == 0
    out = capsys.readouterr().out
    assert "reproduce coco_voc_pretrain: train done" in out
    assert f"initial weights from {tmp_path / 'coco_voc_pretrain'}" in out
    record = json.loads((tmp_path / "voc_aspp_msc" / "reproduction.json").read_text())
    assert list(record["steps"]) == [
        "coco_voc_pretrain fetch",
        "coco_voc_pretrain convert",
        "coco_voc_pretrain train",
        "voc_aspp_msc fetch",
        "voc_aspp_msc convert",
        "voc_aspp_msc train",
        "voc_aspp_msc evaluate",
    ]
    assert record["paper_miou"] == 77.69 and 0 <= record["miou"] <= 100
    manifest = json.loads(
        (tmp_path / "data" / "shards" / "coco_voc" / "manifest.json").read_text()
    )
    assert set(manifest["splits"]) == {"train", "val"}
