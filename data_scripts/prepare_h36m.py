#!/usr/bin/env python
"""Turn the original Human3.6M release (CDF poses + mp4 videos) into the 3DMPPE layout.

Human3.6M is licensed: download it yourself from the official site, then run::

    python data_scripts/prepare_h36m.py --src /data/h36m_original --out /data/Human36M \\
        --subjects 1 5 6 7 8 9 11 --frame-steps 5 64

Input (docs/formats.md, layout 3), per subject ``S{n}``:

- ``MyPoseFeatures/D3_Positions/<take>.cdf``: world joints, variable ``Pose`` (1, N, 96) mm;
- ``MyPoseFeatures/D2_Positions/<take>.<camid>.cdf``: 2D joints (1, N, 64) px (optional: when
  absent they are projected with the packaged, distorted camera);
- ``Videos/<take>.<camid>.mp4``: the 50 Hz videos (not needed with ``--no-images``).

Output (layout 1, read by :func:`partnas_lib.data.datasets.h36m_3dmppe.load_h36m_3dmppe`):

- ``annotations/Human36M_subject{S}_data.json`` (COCO style: images + annotations with
  ``keypoints_vis`` and ``bbox``, the tight box of the 17 2D joints), ``_camera.json``
  (3DMPPE convention: ``X_cam = R (X_world - t)``, ``t`` the camera centre, from the packaged
  calibration) and ``_joint_3d.json`` (world mm, 17 joints, only the kept frames);
- ``images/s_SS_act_AA_subact_BB_ca_CC/s_..._{frame + 1:06d}.jpg``.

Frames kept: every frame index divisible by one of ``--frame-steps`` (default 5 and 64: 3DMPPE
trains on every 5th frame and tests on every 64th).  Takes are numbered as the loaders do
(:func:`partnas_lib.data.datasets.h36m_facts.index_recordings`: the two takes of an action, sorted
by name, are subactions 1 and 2).  Image ids are ``subject * 10**7 + running index``.

The script is resumable: existing JPEGs are kept (a video whose frames all exist is not even
opened), JSON files are rewritten only with ``--overwrite``, and every file is written to a
temporary name and then renamed, so an interrupted run leaves no half-written file.  Missing
inputs are listed, each with its full path, before any work starts.  Videos are decoded with
``imageio-ffmpeg`` (``pip install imageio-ffmpeg``; it ships its own ffmpeg), imported only when
frames are extracted.  ``s_11_act_02_subact_02_ca_01`` is a known corrupt video; decoding
failures are reported at the end and the other videos still get done.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(REPO))

from partnas_lib.data.datasets.h36m_cdf import cdf_files, read_cdf_pose  # noqa: E402
from partnas_lib.data.datasets.h36m_facts import (  # noqa: E402
    ACTION_NAMES,
    ALL_CAMERAS,
    CAMERA_IDS,
    H36M_32_TO_17,
    h36m_camera,
    index_recordings,
    subject_key,
)
from partnas_lib.data.images import tight_bbox  # noqa: E402
from partnas_lib.io import atomic_write_text  # noqa: E402

IMAGE_ID_STRIDE = 10**7


@dataclass
class VideoJob:
    """Frames of one video to write: ``frames[i]`` goes to ``outputs[i]``."""

    video: Path
    frames: list[int]
    outputs: list[Path]

    def pending(self) -> dict[int, Path]:
        """Frames whose JPEG does not exist yet (or is empty)."""
        return {f: p for f, p in zip(self.frames, self.outputs) if not (p.is_file() and p.stat().st_size > 0)}


@dataclass
class SubjectPlan:
    """Everything one subject produces: three JSON objects and the video jobs."""

    subject: int
    data: dict[str, Any]
    camera: dict[str, Any]
    joint_3d: dict[str, Any]
    jobs: list[VideoJob] = field(default_factory=list)


def kept_frames(num_frames: int, steps: Sequence[int]) -> list[int]:
    """Frame indices ``< num_frames`` divisible by at least one of ``steps``."""
    if not steps or any(s < 1 for s in steps):
        raise ValueError(f"frame steps must be positive integers, got {list(steps)}")
    return [f for f in range(num_frames) if any(f % s == 0 for s in steps)]


def image_name(subject: int, action_idx: int, subaction_idx: int, cam_idx: int, frame: int) -> str:
    """``s_01_act_02_subact_01_ca_01/s_01_act_02_subact_01_ca_01_000001.jpg`` (frame + 1)."""
    folder = f"s_{subject:02d}_act_{action_idx:02d}_subact_{subaction_idx:02d}_ca_{cam_idx:02d}"
    return f"{folder}/{folder}_{frame + 1:06d}.jpg"


def video_path(src: Path, subject: int, take: str, cam_idx: int) -> Path:
    return Path(src) / subject_key(subject) / "Videos" / f"{take}.{CAMERA_IDS[cam_idx - 1]}.mp4"


def subject_takes(src: Path, subject: int) -> dict[str, tuple[int, int]]:
    """Takes of one subject (from ``D3_Positions``) -> ``(action_idx, subaction_idx)``."""
    world_dir = cdf_files(src, subject)["world"]
    if not world_dir.is_dir():
        raise FileNotFoundError(f"{world_dir}: folder not found (world poses of {subject_key(subject)})")
    takes = sorted(p.stem for p in world_dir.glob("*.cdf"))
    if not takes:
        raise FileNotFoundError(f"{world_dir}: no <take>.cdf files")
    return index_recordings(takes, str(world_dir))


def missing_inputs(src: Path, subjects: Sequence[int], cameras: Sequence[int], videos: bool) -> list[str]:
    """Every required input that does not exist, as full paths (empty list: all there)."""
    missing: list[str] = []
    for s in subjects:
        try:
            takes = subject_takes(src, s)
        except FileNotFoundError as err:
            missing.append(str(err))
            continue
        if videos:
            videos_needed = (video_path(src, s, take, c) for take in takes for c in cameras)
            missing.extend(str(v) for v in videos_needed if not v.is_file())
    return missing


def plan_subject(src: Path, out: Path, subject: int, steps: Sequence[int],
                 cameras: Sequence[int] = ALL_CAMERAS) -> SubjectPlan:
    """Read one subject's CDF files and build its three JSON objects and video jobs."""
    dirs = cdf_files(src, subject)
    plan = SubjectPlan(subject, {"images": [], "annotations": []}, {}, {})
    for ci in cameras:
        cam = h36m_camera(subject, ci)
        plan.camera[str(ci)] = {"R": cam.R.tolist(), "t": cam.C.tolist(), "f": cam.f.tolist(), "c": cam.c.tolist()}
    next_id = subject * IMAGE_ID_STRIDE
    for take, (action, sub) in sorted(subject_takes(src, subject).items(), key=lambda kv: kv[1]):
        world = read_cdf_pose(dirs["world"] / f"{take}.cdf", 3)[:, list(H36M_32_TO_17)]
        per_cam = {}
        for ci in cameras:
            cam = h36m_camera(subject, ci)
            d2 = dirs["2d"] / f"{take}.{cam.name}.cdf"
            uv = (read_cdf_pose(d2, 2)[:, list(H36M_32_TO_17)] if d2.is_file()
                  else cam.project(cam.world_to_camera(world)))
            per_cam[ci] = uv
        n = min([len(world)] + [len(uv) for uv in per_cam.values()])
        frames = kept_frames(n, steps)
        node = plan.joint_3d.setdefault(str(action), {}).setdefault(str(sub), {})
        for f in frames:
            node[str(f)] = np.round(world[f], 4).tolist()
        for ci in cameras:
            cam = h36m_camera(subject, ci)
            job = VideoJob(video_path(src, subject, take, ci), [], [])
            for f in frames:
                name = image_name(subject, action, sub, ci, f)
                plan.data["images"].append({
                    "id": next_id, "file_name": name, "width": cam.size[0], "height": cam.size[1],
                    "subject": subject, "action_name": ACTION_NAMES[action], "action_idx": action,
                    "subaction_idx": sub, "cam_idx": ci, "frame_idx": f,
                })
                plan.data["annotations"].append({
                    "id": next_id, "image_id": next_id, "keypoints_vis": [True] * 17,
                    "bbox": np.round(tight_bbox(per_cam[ci][f]), 3).tolist(),
                })
                job.frames.append(f)
                job.outputs.append(out / "images" / name)
                next_id += 1
            plan.jobs.append(job)
    return plan


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON so that a killed run never leaves half a file (temporary file + rename)."""
    atomic_write_text(path, json.dumps(obj))


def write_annotations(out: Path, plan: SubjectPlan, overwrite: bool = False) -> list[Path]:
    """Write the three JSON files of ``plan`` (existing ones only with ``overwrite``)."""
    written = []
    for kind, obj in (("data", plan.data), ("camera", plan.camera), ("joint_3d", plan.joint_3d)):
        path = out / "annotations" / f"Human36M_subject{plan.subject}_{kind}.json"
        if overwrite or not path.is_file():
            write_json_atomic(path, obj)
            written.append(path)
    return written


def _save_jpeg_atomic(frame: np.ndarray, path: Path, quality: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(frame).save(tmp, format="JPEG", quality=quality)
    os.replace(tmp, path)


def extract_frames(video: Path, wanted: dict[int, Path], quality: int = 95) -> list[int]:
    """Decode ``video`` once and write frame ``f`` to ``wanted[f]``; returns the frames written.

    Frames past the end of the video are simply not written (and stay "missing" for
    ``partnas data check`` to report).
    """
    if not wanted:
        return []
    try:
        import imageio_ffmpeg
    except ImportError as err:
        raise RuntimeError("extracting frames needs `pip install imageio-ffmpeg` (it ships its own ffmpeg); "
                           "or run with --no-images") from err
    if not video.is_file():
        raise FileNotFoundError(f"{video}: video not found")
    reader = imageio_ffmpeg.read_frames(str(video))
    written = []
    try:
        meta = next(reader)
        width, height = meta["size"]
        last = max(wanted)
        for index, buffer in enumerate(reader):
            if index in wanted:
                frame = np.frombuffer(buffer, dtype=np.uint8).reshape(height, width, 3)
                _save_jpeg_atomic(frame, wanted[index], quality)
                written.append(index)
            if index >= last:
                break
    finally:
        reader.close()
    return written


def run(src: Path, out: Path, subjects: Sequence[int], steps: Sequence[int], cameras: Sequence[int] = ALL_CAMERAS,
        images: bool = True, overwrite: bool = False, quality: int = 95, progress: bool = True) -> dict[str, Any]:
    """Prepare ``subjects``; returns a summary (files written, frames, failures)."""
    missing = missing_inputs(src, subjects, cameras, videos=images)
    if missing:
        listing = "\n  ".join(missing[:50]) + (f"\n  ... and {len(missing) - 50} more" if len(missing) > 50 else "")
        raise FileNotFoundError(f"{len(missing)} input file(s) missing under {src}:\n  {listing}")
    summary: dict[str, Any] = {"annotations": [], "frames_written": 0, "videos_skipped": 0, "failures": []}
    for s in subjects:
        plan = plan_subject(src, out, s, steps, cameras)
        summary["annotations"] += [str(p) for p in write_annotations(out, plan, overwrite)]
        if not images:
            continue
        jobs = plan.jobs
        if progress:
            from tqdm.auto import tqdm

            jobs = tqdm(jobs, desc=f"{subject_key(s)} videos", unit="video")
        for job in jobs:
            pending = job.pending()
            if not pending:
                summary["videos_skipped"] += 1
                continue
            try:
                done = extract_frames(job.video, pending, quality)
            except Exception as err:  # a corrupt video must not stop the other 800
                summary["failures"].append(f"{job.video}: {type(err).__name__}: {err}")
                continue
            summary["frames_written"] += len(done)
            if len(done) < len(pending):
                summary["failures"].append(f"{job.video}: ended before frame {max(pending)}; "
                                           f"{len(pending) - len(done)} frame(s) not written")
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, type=Path, help="original release root (holds S1, S5, ...)")
    p.add_argument("--out", required=True, type=Path, help="output root (gets annotations/ and images/)")
    p.add_argument("--subjects", type=int, nargs="+", default=[1, 5, 6, 7, 8, 9, 11])
    p.add_argument("--frame-steps", type=int, nargs="+", default=[5, 64],
                   help="keep frames divisible by any of these (default: 5 64)")
    p.add_argument("--cameras", type=int, nargs="+", default=list(ALL_CAMERAS), help="cam_idx 1..4")
    p.add_argument("--no-images", action="store_true", help="write the annotation files only")
    p.add_argument("--overwrite", action="store_true", help="rewrite existing annotation files")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        summary = run(args.src, args.out, args.subjects, args.frame_steps, args.cameras, images=not args.no_images,
                      overwrite=args.overwrite, quality=args.quality, progress=not args.no_progress)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"prepare_h36m: error: {err}", file=sys.stderr)
        return 2
    print(f"annotation files written: {len(summary['annotations'])}; frames written: {summary['frames_written']}; "
          f"videos already complete: {summary['videos_skipped']}")
    for failure in summary["failures"]:
        print(f"  failed: {failure}", file=sys.stderr)
    print(f"check the result with: partnas data check --dataset h36m --root {args.out}")
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
