#!/usr/bin/env python
"""Where to get real motion capture (BVH) for ``data.pose_source=bvh:DIR``, and an optional download.

partnas never ships mocap: the datasets have their own licences, so you download them yourself
and point partnas at the folder.  Run without arguments to print the instructions::

    python data_scripts/fetch_mocap.py

or let the script fetch the Bandai Namco Research Motion Dataset 1 (needs ``git`` and internet)::

    python data_scripts/fetch_mocap.py --download bandai-namco-1 --out ~/data/mocap

It clones only that dataset's folder (a sparse, shallow clone), checks the clips with the same
reader training uses, and prints the ``--set data.pose_source=...`` to use.  Offline, or when the
host cannot be reached, it stops with a clear message and leaves nothing half-written behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(REPO))

from partnas_lib.data.mocap.check import check_bvh_folder, format_bvh_report  # noqa: E402

BANDAI_GIT = "https://github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset.git"
BANDAI_FOLDERS = {
    "bandai-namco-1": "dataset/Bandai-Namco-Research-Motiondataset-1",
    "bandai-namco-2": "dataset/Bandai-Namco-Research-Motiondataset-2",
}

INSTRUCTIONS = """\
Real motion capture for partnas (any folder of .bvh files; nothing is copied into the repository)

1. Bandai Namco Research Motion Dataset (licence CC BY-NC 4.0: attribution, non-commercial use only)
   https://github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset
   Dataset 1: 175 clips, 17 actions (walk, run, dash, bow, wave, punch, kick, dance, ...) in up to
   15 styles, 30 fps; its BVH files are in dataset/Bandai-Namco-Research-Motiondataset-1/data
   (also zipped as data.zip).  Dataset 2 is larger (about 3000 clips).  Fetch dataset 1 with
       python data_scripts/fetch_mocap.py --download bandai-namco-1 --out ~/data/mocap
   or clone the repository yourself.  Skeleton map: "bandai-namco" (detected automatically).

2. CMU Graphics Lab Motion Capture Database (http://mocap.cs.cmu.edu/; see its terms of use)
   The original is ASF/AMC; BVH conversions exist, e.g. the cgspeed conversion
   (https://sites.google.com/a/cgspeed.com/cgspeed/motion-capture/cmu-bvh-conversion).
   Skeleton map: "cmu" (joint names Hips, LeftUpLeg, LeftLeg, LeftFoot, LeftArm, ...; units of
   1/0.45 inch).  Check the folder first: a wrong unit scale shows up as implausible heights.

Then check the folder and render with it:
    partnas data check --dataset bvh --root /path/to/folder
    partnas reproduce --preset cpu --out runs/mocap --set data.pose_source=bvh:/path/to/folder
Other BVH skeletons: add a SkeletonMap to partnas_lib.data.mocap.retarget.SKELETONS.
"""


def _git(args: list[str], cwd: Path | None = None) -> None:
    """Run git non-interactively; raise ``RuntimeError`` with git's own message on failure."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"git {args[0]} took more than 30 minutes; giving up") from None
    if done.returncode != 0:
        raise RuntimeError((done.stderr or done.stdout).strip() or f"git {args[0]} failed ({done.returncode})")


def download_bandai(name: str, out: Path) -> Path:
    """Sparse-clone one Bandai Namco dataset folder into ``out``; returns the folder of clips."""
    if shutil.which("git") is None:
        raise RuntimeError("git is not installed; install it or download the repository by hand (see above)")
    folder = BANDAI_FOLDERS[name]
    target = out / "Bandai-Namco-Research-Motiondataset"
    if target.exists():
        raise RuntimeError(f"{target} already exists; remove it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=".fetch-"))
    try:
        print(f"cloning {folder} of {BANDAI_GIT} ...", flush=True)
        try:
            _git(["clone", "--depth", "1", "--filter=blob:none", "--sparse", BANDAI_GIT, str(tmp / "repo")])
        except RuntimeError as err:
            raise RuntimeError(f"could not clone {BANDAI_GIT} (offline, or the host is unreachable?):\n  {err}") \
                from None
        _git(["sparse-checkout", "set", folder], cwd=tmp / "repo")
        os.replace(tmp / "repo", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--download", choices=sorted(BANDAI_FOLDERS), default=None,
                   help="clone this Bandai Namco dataset (needs git and internet)")
    p.add_argument("--out", type=Path, default=None, help="folder to download into (with --download)")
    args = p.parse_args(argv)
    print(INSTRUCTIONS)
    if args.download is None:
        return 0
    if args.out is None:
        p.error("--download needs --out FOLDER (outside the partnas repository)")
    out = args.out.expanduser().resolve()
    if out == REPO or REPO in out.parents:
        p.error(f"--out {out} is inside the partnas repository; the mocap licence forbids shipping it: "
                "choose a folder outside")
    try:
        clips = download_bandai(args.download, out)
    except RuntimeError as err:
        print(f"fetch_mocap: error: {err}", file=sys.stderr)
        return 2
    report = check_bvh_folder(clips)
    print(format_bvh_report(report))
    print(f"\nUse it with:  --set data.pose_source=bvh:{clips}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
