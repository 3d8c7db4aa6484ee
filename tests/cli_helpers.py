"""Running the ``partnas`` command line in process and checking that bad input fails cleanly
(docs/architecture.md, "Errors"): exit code 2, a message naming the file or field, and
nothing half-written."""

from __future__ import annotations

from pathlib import Path

from partnas_lib import cli

# smaller than smoke: a search or retrain that gets past its input checks ends in seconds
TINY = ["--preset", "smoke", "--no-progress", "--set", "data.num_train=64", "--set", "data.num_test=16",
        "--set", "search.epochs=1", "--set", "search.batch_size=16", "--set", "retrain.epochs=1",
        "--set", "retrain.batch_size=16"]


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    try:
        code = cli.main(args)
    except SystemExit as e:  # argparse rejects bad choices itself
        code = e.code
    return code, capsys.readouterr().err


def assert_clean_error(args: list[str], out: Path, message: str | list[str], capsys) -> str:
    """``partnas ARGS`` fails with exit code 2 and ``message`` on stderr, and ``out`` does not exist."""
    code, err = run_cli(args, capsys)
    assert code == 2, err
    for m in [message] if isinstance(message, str) else message:
        assert m in err, (m, err)
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))
    return err
