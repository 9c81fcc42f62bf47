"""Export under faults: Ctrl-C, a weights file that is not one.

Each test provokes its fault for real and checks the exit code, the one line,
and that nothing was lost or replaced.
"""

from tests.helpers import evaluate_command, export_command, one_error_line


def test_ctrl_c_in_export_writes_nothing(
    demo_shards, trained_run, tmp_path, monkeypatch, capsys
):
    import tensorflow as tf

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tf.saved_model, "save", interrupted)
    out = tmp_path / "model"
    assert (
        export_command(demo_shards, "--checkpoint", str(trained_run), "--out", str(out))
        == 130
    )
    assert one_error_line(capsys) == (
        f"error: interrupted: nothing was written to {out}; run the same command to "
        "export"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_keras_file_that_is_not_a_zip_is_one_line(demo_shards, tmp_path, capsys):
    weights = tmp_path / "model.keras"
    weights.write_bytes(b"not a zip")
    assert evaluate_command(demo_shards, "--weights", str(weights)) == 2
    assert one_error_line(capsys) == (
        f"error: {weights}: not a readable Keras archive of this model (File is not "
        "a zip file)"
    )
