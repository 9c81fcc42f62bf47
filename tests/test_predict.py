"""`python -m tfdeeplab.predict`: label maps and overlays; bad files are skipped."""

import numpy as np
from PIL import Image

from tests.helpers import eval_images, run_predict, tiny_overrides
from tfdeeplab import evaluate as evaluate_cli
from tfdeeplab.catalog.palettes import voc_palette
from tfdeeplab.config import load_recipe
from tfdeeplab.experiment.demo_job import RECIPE


def test_predictions_equal_the_evaluators_and_bad_files_are_listed(
    demo_shards, trained_run, tmp_path, capsys
):
    recipe = load_recipe(RECIPE, tiny_overrides(demo_shards))
    photos = tmp_path / "photos"
    photos.mkdir()
    ids = []
    for example in eval_images(recipe).take(2):
        ids.append(example["id"].numpy().decode())
        Image.fromarray(example["rgb"].numpy()).save(photos / f"{ids[-1]}.png")
    (photos / "notes.jpg").write_text("not an image")
    saved = tmp_path / "saved"
    assert (
        evaluate_cli.main(
            [
                str(RECIPE),
                "--checkpoint",
                str(trained_run),
                "--save-predictions",
                str(saved),
                "--no-progress",
                "--set",
                *tiny_overrides(demo_shards),
            ]
        )
        == 0
    )
    capsys.readouterr()

    out = tmp_path / "out"
    assert run_predict(demo_shards, trained_run, out, photos) == 1
    err = capsys.readouterr().err
    assert f"skipped: {photos / 'notes.jpg'}: not a readable image" in err
    for image_id in ids:
        label_map = Image.open(out / f"{image_id}.png")
        assert label_map.mode == "P"
        assert label_map.getpalette()[: 3 * 21] == voc_palette()[:21].ravel().tolist()
        expected = np.array(Image.open(saved / f"{image_id}.png"))
        np.testing.assert_array_equal(np.array(label_map), expected)
        overlay = Image.open(out / f"{image_id}_overlay.jpg")
        assert overlay.size == label_map.size and overlay.mode == "RGB"
    assert not (out / "notes.png").exists()


def test_existing_outputs_are_kept_unless_forced(
    demo_shards, trained_run, tmp_path, capsys
):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((30, 40, 3), 90, np.uint8)).save(photo)
    out = tmp_path / "out"
    assert run_predict(demo_shards, trained_run, out, photo) == 0
    before = (out / "photo.png").read_bytes()
    (out / "photo.png").write_bytes(b"mine")
    assert run_predict(demo_shards, trained_run, out, photo) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{out / 'photo.png'} exists" in err[0]
    assert (out / "photo.png").read_bytes() == b"mine"
    assert run_predict(demo_shards, trained_run, out, photo, more=["--force"]) == 0
    assert (out / "photo.png").read_bytes() == before
