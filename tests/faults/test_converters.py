"""The converters' command lines under input faults.

Each test provokes its fault for real and checks the exit code, the one line,
and that nothing was lost or replaced.
"""

import numpy as np
import pytest
from PIL import Image


def _sbd_tree(tmp_path, label_shape):
    from scipy.io import savemat

    from tfdeeplab.synthetic_datasets import voc_id, write_voc_tree

    ids = [voc_id(i) for i in range(3)]
    voc_root = write_voc_tree(tmp_path / "src", ids[:1], ids[1:2], size=(8, 8))
    sbd = tmp_path / "sbd"
    (sbd / "cls").mkdir(parents=True)
    (sbd / "img").mkdir()
    (sbd / "train.txt").write_text(ids[2] + "\n")
    (sbd / "val.txt").write_text("")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(sbd / "img" / f"{ids[2]}.jpg")
    savemat(
        sbd / "cls" / f"{ids[2]}.mat",
        {"GTcls": {"Segmentation": np.zeros(label_shape, np.uint8)}},
    )
    return voc_root, sbd, ids


@pytest.mark.parametrize("case", ["empty list", "1x1 label", "list not utf-8"])
def test_converter_input_faults_are_listed_or_one_line(tmp_path, case, capsys):
    from tfrecords_tools import voc

    voc_root, sbd, ids = _sbd_tree(tmp_path, (1, 1))
    lists = voc_root / "ImageSets" / "Segmentation"
    out = tmp_path / "out"
    arguments = [
        "--voc-root",
        str(voc_root),
        "--sbd-root",
        str(sbd),
        "--out",
        str(out),
        "--quiet",
        "--workers",
        "1",
    ]
    if case == "empty list":
        (lists / "val.txt").write_text("\n")
    elif case == "list not utf-8":
        (lists / "train.txt").write_bytes(b"2007_\xe9\n")
    code = voc.main(arguments)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if case == "empty list":
        assert code == 1 and "val: no images to convert (VOC val.txt lists none)" in (
            captured.err
        )
        assert not list(out.glob("val-*"))
    elif case == "1x1 label":  # a label of another size than its image: listed
        assert code == 1
        assert f"{ids[2]}.mat: label size 1x1 differs from image size 8x8" in (
            captured.err
        )
    else:
        errors = [line for line in captured.err.splitlines() if line.startswith("err")]
        assert code == 2 and len(errors) == 1
        assert errors[0].startswith(f"error: {lists / 'train.txt'}: not UTF-8 text")
