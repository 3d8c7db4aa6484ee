"""The run directory: not writable, or too little disk space, is reported before any work."""

from __future__ import annotations

from cli_helpers import TINY, assert_clean_error


def test_run_directory_that_cannot_be_created(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "run"
    assert_clean_error(["search", "--out", str(out), *TINY], out,
                       f"run directory {out} is not writable", capsys)


def test_too_little_disk_space_is_reported_before_any_work(tmp_path, capsys, monkeypatch):
    import shutil as shutil_mod

    usage = shutil_mod.disk_usage(tmp_path)
    monkeypatch.setattr("partnas_lib.train.rundir.shutil.disk_usage",
                        lambda p: usage._replace(free=5 * 2**20))
    out = tmp_path / "run"
    assert_clean_error(["reproduce", "--out", str(out), *TINY], out,
                       [f"not enough free disk space for the run directory (train.min_free_mb): {out} has 5 MB free",
                        "50 MB needed"], capsys)
