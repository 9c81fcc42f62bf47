"""fetch end to end over a loopback server and offline: layouts, reuse, pinning,
and the real registry's own entries."""

import hashlib
import io
import json
import tarfile
import zipfile

import numpy as np
import pytest

from tests.weights.formats import write_mxnet_params
from tfdeeplab.fetch import fetching
from tfdeeplab.fetch.__main__ import main
from tfdeeplab.fetch.fetching import LOCK_FILE
from tfdeeplab.fetch.registry import RegistryError, load_registry


def _tar_bytes(members: dict, mode="w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


VOC_TAR = _tar_bytes(
    {
        "VOCdevkit/VOC2012/JPEGImages/2007_000032.jpg": b"jpeg",
        "VOCdevkit/VOC2012/SegmentationClass/2007_000032.png": b"png",
        "VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt": b"2007_000032\n",
    }
)
SBD_TGZ = _tar_bytes({"benchmark_RELEASE/dataset/train.txt": b"2008_000002\n"}, "w:gz")
IDS = b"2008_000002\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _registry(tmp_path, base) -> str:
    text = f"""
voc2012:
  description: tiny VOC
  access: open
  licence: test
  layout: VOCdevkit/VOC2012
  next: convert --voc-root {{voc2012}} --sbd-root {{sbd}}
  files:
    - name: VOCtrainval_11-May-2012.tar
      size: {len(VOC_TAR)}
      sha256: {_sha(VOC_TAR)}
      unpack: tar
      urls: ["{base}/gone/VOCtrainval_11-May-2012.tar",
             "{base}/voc/VOCtrainval_11-May-2012.tar"]
sbd:
  description: tiny SBD
  access: open
  licence: test
  layout: benchmark_RELEASE/dataset
  files:
    - name: benchmark.tgz
      sha256: {_sha(SBD_TGZ)}
      unpack: tgz
      urls: ["{base}/sbd/benchmark.tgz"]
    - name: train_noval.txt
      sha256: {_sha(IDS)}
      place: benchmark_RELEASE/dataset/train_noval.txt
      urls: ["{base}/sbd/train_noval.txt"]
weights:
  description: a small ResNet's weights
  access: browser
  licence: test
  page: https://example.org/weights
  pin: mxnet
  files:
    - name: w-0000.params
"""
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    return str(path)


def test_fetch_unpacks_each_artifact_into_its_layout_and_reuses_it(
    server, tmp_path, capsys
):
    base, routes = server
    routes.statuses["/gone/VOCtrainval_11-May-2012.tar"] = 404
    routes.serve("/voc/VOCtrainval_11-May-2012.tar", VOC_TAR)
    routes.serve("/sbd/benchmark.tgz", SBD_TGZ)
    routes.serve("/sbd/train_noval.txt", IDS)
    data = tmp_path / "data"
    registry = _registry(tmp_path, base)
    arguments = ["voc2012", "sbd", "--dir", str(data), "--registry", registry]
    assert main([*arguments, "--quiet"]) == 0
    voc = data / "voc2012" / "VOCdevkit" / "VOC2012"
    sbd = data / "sbd" / "benchmark_RELEASE" / "dataset"
    assert (voc / "ImageSets" / "Segmentation" / "train.txt").read_bytes() == (
        b"2007_000032\n"
    )
    assert (sbd / "train.txt").read_bytes() == IDS
    assert (sbd / "train_noval.txt").read_bytes() == IDS
    out = capsys.readouterr().out
    assert f"voc2012: {voc.resolve()}  [checked]" in out
    roots = f"--voc-root {voc.resolve()} --sbd-root {sbd.resolve()}"
    assert f"  next: convert {roots}" in out
    record = json.loads((data / "voc2012" / ".fetched.json").read_text())
    assert record["files"] == {"VOCtrainval_11-May-2012.tar": _sha(VOC_TAR)}

    asked = len(routes.requests)
    assert main([*arguments, "--quiet"]) == 0
    assert len(routes.requests) == asked  # nothing fetched again
    assert "[reused (fetched and checked before)]" in capsys.readouterr().out
    assert main(["--list", "--dir", str(data), "--registry", registry]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[1].split()[:4] == ["voc2012", "0.0", "MB", "open"]
    assert "here, checked" in listed[1] and "-  " in listed[3]


def test_from_a_folder_offline_the_files_are_checked_and_placed(tmp_path, capsys):
    folder = tmp_path / "have"
    folder.mkdir()
    (folder / "VOCtrainval_11-May-2012.tar").write_bytes(VOC_TAR)
    data = tmp_path / "data"
    registry = _registry(tmp_path, "http://127.0.0.1:9")  # nothing listens there
    assert main(["voc2012", "--dir", str(data), "--from", str(folder),
                 "--registry", registry, "--quiet"]) == 0  # fmt: skip
    assert (data / "voc2012" / "VOCdevkit" / "VOC2012" / "JPEGImages").is_dir()
    (folder / "VOCtrainval_11-May-2012.tar").write_bytes(VOC_TAR + b"!")
    assert main(["voc2012", "--dir", str(tmp_path / "other"), "--from", str(folder),
                 "--registry", registry]) == 2  # fmt: skip
    assert "does not match sha256:" in capsys.readouterr().err


TINY_RESNET = {"depth": 50, "units_per_stage": (1, 1, 1, 1), "base_width": 4}


def _weights(path, scale=1.0, drop=None, **architecture):
    """An MXNet file of a ResNet-v1's convolutions (OIHW, as MXNet stores them)."""
    shapes, _ = fetching.resnet_kernel_shapes(**(architecture or TINY_RESNET))
    rng = np.random.default_rng(0)
    arrays = {
        f"arg:{layer}_weight": rng.normal(size=(o, i, h, w)) * scale
        for layer, (h, w, i, o) in shapes.items()
        if layer != drop
    }
    write_mxnet_params(path, arrays)
    return path


def test_weights_without_a_hash_are_checked_pinned_and_a_changed_file_refused(
    tmp_path, capsys, monkeypatch
):
    registry = _registry(tmp_path, "http://127.0.0.1:9")
    data, folder = tmp_path / "data", tmp_path / "browser"
    folder.mkdir()
    assert main(["weights", "--dir", str(data), "--registry", registry]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: weights: w-0000.params needs a browser: download it from "
        f"https://example.org/weights, then: python -m tfdeeplab.fetch weights "
        f"--dir {data} --from FOLDER_HOLDING_IT"
    )
    arguments = ["weights", "--dir", str(data), "--from", str(folder)]
    arguments += ["--registry", registry]
    monkeypatch.setattr(fetching, "PIN_ARCHITECTURE", TINY_RESNET)
    # Not the network: a unit missing, then another width.
    _weights(folder / "w-0000.params", drop="res4a_branch2b")
    assert main(arguments) == 2
    assert "not pinned: no res4a_branch2b kernel (and 0 more of a ResNet-50's)" in (
        capsys.readouterr().err
    )
    (data / "downloads" / "w-0000.params").unlink()
    _weights(
        folder / "w-0000.params", depth=50, units_per_stage=(1, 1, 1, 1), base_width=8
    )
    assert main(arguments) == 2
    assert "not pinned: conv1 is (7, 7, 3, 8), a ResNet-50's is (7, 7, 3, 4)" in (
        capsys.readouterr().err
    )
    assert not (data / LOCK_FILE).exists()
    (data / "downloads" / "w-0000.params").unlink()
    _weights(folder / "w-0000.params")
    assert main(arguments) == 0
    lock = json.loads((data / LOCK_FILE).read_text())
    pinned = hashlib.sha256((folder / "w-0000.params").read_bytes()).hexdigest()
    assert lock == {"weights/w-0000.params": pinned}
    assert f"sha256 {pinned} pinned in" in capsys.readouterr().out
    # Later: the same name, other bytes, is refused against the pin.
    (data / "weights" / ".fetched.json").unlink()
    (data / "downloads" / "w-0000.params").unlink()
    _weights(folder / "w-0000.params", scale=2.0)
    assert main(arguments) == 2
    assert f"does not match sha256:{pinned}" in capsys.readouterr().err


def test_the_pinned_architecture_is_a_resnet_101():
    shapes, units = fetching.resnet_kernel_shapes(**fetching.PIN_ARCHITECTURE)
    assert len(shapes) == 104 and len(units["res4"]) == 23
    assert shapes["res5c_branch2c"] == (1, 1, 512, 2048)
    # torchvision's resnet101: 44,549,160 parameters, less the classifier
    # (2048 x 1000 + 1000) and BatchNorm's gamma and beta (2 x 52,672 channels).
    assert sum(int(np.prod(shape)) for shape in shapes.values()) == 42_394_816


def test_the_shipped_registry_is_whole():
    registry = load_registry()
    assert {"voc2012", "sbd", "cityscapes", "cityscapes_coarse", "coco2017"} <= set(
        registry
    )
    assert {"resnet101_mxnet", "resnet101_caffe", "deeplabv2_init"} <= set(registry)
    voc = registry["voc2012"].files[0]
    assert voc.size == 1_999_639_040 and voc.md5 == "6cd6e144f989b92b3379bac3b3de84fd"
    for artifact in registry.values():
        for remote in artifact.files:
            checked = remote.known_hash or artifact.pin
            assert checked, f"{artifact.name}/{remote.name}: no hash and no pin"
            assert remote.urls or artifact.access != "open", remote.name
        assert artifact.next, artifact.name


def test_a_registry_with_a_name_twice_or_a_bad_key_is_one_line(tmp_path):
    path = tmp_path / "r.yaml"
    entry = "  description: x\n  access: open\n  licence: x\n  files:\n"
    entry += "    - name: a.tar\n      urls: [http://h/a.tar]\n"
    path.write_text(f"a:\n{entry}a:\n{entry}")
    with pytest.raises(RegistryError, match=r"key 'a' appears twice"):
        load_registry(path)
    path.write_text(f"a:\n{entry}      sha265: abc\n")
    with pytest.raises(RegistryError) as raised:
        load_registry(path)
    assert str(raised.value) == f"{path}: a.files[0].sha265: unknown key"


def test_an_unknown_name_lists_the_known_ones(capsys):
    assert main(["vocc"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown artifact 'vocc' (known: voc2012, sbd,")


def test_a_login_artifact_goes_through_cityscapes_own_downloader(
    tmp_path, monkeypatch, capsys
):
    """cityscapesscripts' downloader is given the session and the package name; its
    file is checked again before it takes the final name."""
    from tfdeeplab.fetch import cityscapes_login

    archive = tmp_path / "made.zip"
    with zipfile.ZipFile(archive, "w") as opened:
        opened.writestr("gtFine/train/a/a_gtFine_labelIds.png", "png")
    data_bytes = archive.read_bytes()
    md5 = hashlib.md5(data_bytes).hexdigest()
    registry = tmp_path / "r.yaml"
    registry.write_text(
        "cityscapes:\n  description: x\n  access: login\n  licence: x\n"
        f"  files:\n    - name: gtFine_trainvaltest.zip\n      md5: {md5}\n"
        "      unpack: zip\n      package_id: 1\n"
    )
    calls = []

    def fake_download(*, session, package_names, destination_path, resume):
        calls.append((session, package_names, resume))
        target = f"{destination_path}/{package_names[0]}"
        with open(target, "wb") as stream:
            stream.write(data_bytes)

    from cityscapesscripts.download import downloader

    monkeypatch.setattr(cityscapes_login, "cityscapes_session", lambda: "session")
    monkeypatch.setattr(downloader, "download_packages", fake_download)
    data = tmp_path / "data"
    arguments = ["cityscapes", "--dir", str(data), "--registry", str(registry)]
    assert main(arguments) == 0
    assert calls == [("session", ["gtFine_trainvaltest.zip"], False)]
    assert (data / "cityscapes" / "gtFine" / "train" / "a").is_dir()
    assert (data / "downloads" / "gtFine_trainvaltest.zip").read_bytes() == data_bytes


def test_no_cityscapes_credentials_off_a_terminal_is_one_line(monkeypatch, tmp_path):
    from tfdeeplab.fetch import cityscapes_login

    monkeypatch.delenv("CITYSCAPES_USERNAME", raising=False)
    monkeypatch.delenv("CITYSCAPES_PASSWORD", raising=False)
    monkeypatch.setattr(
        cityscapes_login, "_stored_credentials", lambda: tmp_path / "none.json"
    )
    monkeypatch.setattr(cityscapes_login.sys.stdin, "isatty", lambda: False)
    with pytest.raises(cityscapes_login.CityscapesLoginError) as raised:
        cityscapes_login.cityscapes_session()
    assert "set CITYSCAPES_USERNAME and CITYSCAPES_PASSWORD" in str(raised.value)
