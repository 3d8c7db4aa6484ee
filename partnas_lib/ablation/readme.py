"""Refresh the README's ablation blocks from the committed results files.

The README's "Do the paper's claims hold here?" quotes each benchmark's table and verdicts
between ``<!-- ablation:NAME -->`` markers; this writes them from ``ablation.json`` so that no
number is typed by hand, and a test keeps them equal::

    python -m partnas_lib.ablation.readme README.md procedural=results/procedural

Only the procedural benchmark is committed.  The real-motion benchmark (``partnas ablate
--data bvh:DIR``) is computed from motion-capture clips whose licence (CC BY-NC 4.0 for the
Bandai Namco set) keeps every number computed from them out of this repository, so its
results stay in the user's own run folder, whose ``ablation.md`` holds the same table and
verdicts (and ``mocap=FOLDER`` writes the block into any file of the user's own that has the
``<!-- ablation:mocap -->`` markers).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from partnas_lib.ablation.report import claims_markdown, replace_readme_block
from partnas_lib.io import atomic_write_text

#: Every benchmark's block name and title.
TITLES: dict[str, str] = {
    "procedural": "Procedural people (the default data)",
    "mocap": "Real motion: renders of the Bandai Namco motion-capture clips",
}

#: The benchmarks whose results are committed, by block name: their results folder.
COMMITTED_BENCHMARKS: dict[str, str] = {"procedural": "results/procedural"}


def benchmark_block(name: str, folder: str | Path) -> str:
    """The README block of benchmark ``name`` from ``folder/ablation.json``."""
    data = json.loads((Path(folder) / "ablation.json").read_text())
    return claims_markdown(data, TITLES.get(name, name))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("readme", help="the README (or notes file) to update in place")
    p.add_argument("blocks", nargs="+", metavar="NAME=FOLDER", help="block name and its results folder")
    args = p.parse_args(argv)
    text = Path(args.readme).read_text()
    for spec in args.blocks:
        name, _, folder = spec.partition("=")
        text = replace_readme_block(text, name, benchmark_block(name, folder))
    atomic_write_text(Path(args.readme), text)


if __name__ == "__main__":
    main()
