"""Writers of tiny fixture datasets in the real on-disk layouts of docs/formats.md.

Human3.6M, MuPoTS-3D and MPII are licensed and never shipped, so the loaders are tested on
files these functions write into a temporary folder: the same folder structure, file names,
keys, array shapes, pickles, CDF variables and MATLAB structs as the real releases, with a
handful of frames.

One ground truth feeds every layout of a dataset: a simple standing skeleton (Human3.6M-17,
mm), swinging its arms a little from frame to frame, turned and placed near the centre of the
capture volume, where the real Human3.6M cameras (the packaged calibration) see it 4-6 m away.
So the three Human3.6M layouts must load into the same camera-space joints, and the two
MuPoTS-3D layouts into the same people.

Deliberate faults for the error tests: ``convention="transposed_R"`` writes camera files that fit
neither camera convention; ``joint_order`` permutes the joints in the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from partnas_lib.data.datasets.h36m_3dmppe import pinhole
from partnas_lib.data.datasets.h36m_facts import ACTION_NAMES, CAMERA_IDS, H36M_32_TO_17, h36m_camera, subject_key
from partnas_lib.data.datasets.mpii import mpii_to_h36m
from partnas_lib.data.datasets.mupots_facts import H36M_FROM_MUPOTS
from partnas_lib.data.images import tight_bbox
from partnas_lib.skeleton import BONES

# --------------------------------------------------------------------------------------------
# The skeleton
# --------------------------------------------------------------------------------------------

#: A standing person in the body frame: x forward, y to the body's left, z up, pelvis at 0, mm.
STANDING_BODY = np.array([
    [0, 0, 0],            # pelvis
    [0, -130, -20],       # r_hip
    [15, -125, -460],     # r_knee
    [-20, -120, -900],    # r_ankle
    [0, 130, -20],        # l_hip
    [15, 125, -460],      # l_knee
    [-20, 120, -900],     # l_ankle
    [0, 0, 233],          # spine
    [0, 0, 490],          # thorax
    [40, 0, 605],         # nose (in front of the neck: the face)
    [11, 0, 717],         # head top
    [-5, 150, 472],       # l_shoulder
    [-5, 160, 195],       # l_elbow
    [25, 160, -55],       # l_wrist
    [-5, -150, 472],      # r_shoulder
    [-5, -160, 195],      # r_elbow
    [25, -160, -55],      # r_wrist
], dtype=np.float64)


def _rot_z(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])


def _rot_y(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1.0, 0], [-np.sin(a), 0, np.cos(a)]])


def body_pose(frame: int, seed: int) -> np.ndarray:
    """The standing skeleton with arms swung about the shoulders (a few degrees per frame)."""
    joints = STANDING_BODY.copy()
    for side, (sh, el, wr) in enumerate(((11, 12, 13), (14, 15, 16))):
        swing = 25.0 * np.sin(0.1 * frame + seed + np.pi * side)
        R = _rot_y(-swing)
        joints[[el, wr]] = (joints[[el, wr]] - joints[sh]) @ R.T + joints[sh]
    return joints


def to_world(body: np.ndarray, yaw_deg: float, xy: Sequence[float]) -> np.ndarray:
    """Body frame -> Human3.6M-like world (mm, Z up, feet near the floor)."""
    world = body @ _rot_z(yaw_deg).T
    world[:, :2] += np.asarray(xy, float)
    world[:, 2] += 920.0
    return world


# --------------------------------------------------------------------------------------------
# Human3.6M
# --------------------------------------------------------------------------------------------

H36M_SUBJECTS = (1, 9)
H36M_ACTIONS = (2, 12)  # Directions, Photo (S1 calls it "TakingPhoto" in the original release)
H36M_SUBACTIONS = (1, 2)
H36M_CAMERAS = (1, 2)
H36M_IMAGE_FRAMES = (0, 5, 64)
H36M_NUM_FRAMES = 70


def h36m_world_pose(subject: int, action_idx: int, subaction_idx: int, frame: int) -> np.ndarray:
    """World mm of the fixture subject, rounded through float32 metres (as VideoPose3D stores it),
    so every layout holds exactly the same numbers."""
    seed = subject * 100 + action_idx * 10 + subaction_idx
    yaw = (37.0 * seed) % 360.0
    xy = (150.0 * np.cos(seed), 150.0 * np.sin(seed))
    metres = (to_world(body_pose(frame, seed), yaw, xy) / 1000.0).astype(np.float32)
    return metres.astype(np.float64) * 1000.0


def recording_name(subject: int, action_idx: int, subaction_idx: int) -> str:
    """Original-release take name: subaction 1 -> "Directions", 2 -> "Directions 1"."""
    base = ACTION_NAMES[action_idx]
    if subject == 1:
        base = {"Photo": "TakingPhoto", "WalkDog": "WalkingDog"}.get(base, base)
    return base if subaction_idx == 1 else f"{base} 1"


def _full_32(joints17: np.ndarray) -> np.ndarray:
    """A 32-joint array whose 17 kept joints are ``joints17`` (others near a neighbour)."""
    out = np.zeros((32, joints17.shape[1]), dtype=joints17.dtype)
    out[list(H36M_32_TO_17)] = joints17
    # the 15 dropped joints (toes, hand ends, duplicates) sit near a kept one (17-order index)
    for extra, near in {4: 3, 5: 3, 9: 6, 10: 6, 11: 0, 16: 8, 20: 13, 21: 13, 22: 13, 23: 13,
                        24: 8, 28: 16, 29: 16, 30: 16, 31: 16}.items():
        out[extra] = joints17[near] + 10
    return out


def _draw_people(path: Path, width: int, height: int, people_uv: Sequence[np.ndarray], seed: int) -> None:
    """A real-looking JPEG: a shaded room-like background and stick people on it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(60, 160, 3).astype(np.float32)
    img = base + 40 * (yy / height)[..., None] - 20 * (xx / width)[..., None]
    noise = rng.normal(0, 4, (height // 4 + 1, width // 4 + 1, 1)).astype(np.float32)
    img += noise.repeat(4, axis=0).repeat(4, axis=1)[:height, :width]
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for uv in people_uv:
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        for a, b in BONES:
            draw.line([tuple(uv[a]), tuple(uv[b])], fill=colour, width=max(3, width // 80))
        for u, v in uv:
            draw.ellipse([u - 4, v - 4, u + 4, v + 4], fill=(250, 220, 180))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, quality=85)


def h36m_image_name(subject: int, action_idx: int, subaction_idx: int, cam_idx: int, frame: int) -> str:
    folder = f"s_{subject:02d}_act_{action_idx:02d}_subact_{subaction_idx:02d}_ca_{cam_idx:02d}"
    return f"{folder}/{folder}_{frame + 1:06d}.jpg"


def _camera_entry(subject: int, cam_idx: int, convention: str) -> dict:
    cam = h36m_camera(subject, cam_idx)
    R, C = cam.R, cam.C
    if convention == "3dmppe":
        t = C
    elif convention == "i2l":
        t = -R @ C
    elif convention == "transposed_R":  # a classic bug: camera-to-world rotation stored as R
        R, t = R.T, C
    else:
        raise ValueError(convention)
    return {"R": R.tolist(), "t": t.tolist(), "f": cam.f.tolist(), "c": cam.c.tolist()}


def write_h36m_3dmppe(root: Path, *, convention: str = "3dmppe", subjects: Sequence[int] = H36M_SUBJECTS,
                      actions: Sequence[int] = (2,), subactions: Sequence[int] = (1,),
                      cameras: Sequence[int] = H36M_CAMERAS, frames: Sequence[int] = H36M_IMAGE_FRAMES,
                      joint_order: Sequence[int] | None = None, with_images: bool = True,
                      detector_boxes: bool = False) -> Path:
    """Layout 1 (3DMPPE / I2L-MeshNet) under ``root``: annotations, JPEGs, optional boxes file.

    ``joint_order`` writes ``true_joints[joint_order]`` into ``_joint_3d.json`` (a wrong order).
    """
    root = Path(root)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    image_id, detections = 0, []
    for s in subjects:
        images, annotations, joints3d = [], [], {}
        for a in actions:
            for sa in subactions:
                for f in frames:
                    world = h36m_world_pose(s, a, sa, f)
                    stored = world if joint_order is None else world[list(joint_order)]
                    joints3d.setdefault(str(a), {}).setdefault(str(sa), {})[str(f)] = stored.tolist()
                    for ci in cameras:
                        cam = h36m_camera(s, ci)
                        uv = pinhole(cam.world_to_camera(world), cam.f, cam.c)
                        name = h36m_image_name(s, a, sa, ci, f)
                        w, h = cam.size
                        images.append({"id": image_id, "file_name": name, "width": w, "height": h, "subject": s,
                                       "action_name": ACTION_NAMES[a], "action_idx": a, "subaction_idx": sa,
                                       "cam_idx": ci, "frame_idx": f})
                        box = tight_bbox(uv)
                        annotations.append({"id": image_id, "image_id": image_id, "keypoints_vis": [True] * 17,
                                            "bbox": box.tolist()})
                        detections.append({"image_id": image_id, "bbox": (box + [-8, -6, 16, 12]).tolist(),
                                           "root_cam": cam.world_to_camera(world)[0].tolist(), "score": 0.99})
                        if with_images:
                            _draw_people(root / "images" / name, w, h, [cam.project(cam.world_to_camera(world))],
                                         seed=image_id)
                        image_id += 1
        ann = root / "annotations"
        (ann / f"Human36M_subject{s}_data.json").write_text(json.dumps({"images": images, "annotations": annotations}))
        (ann / f"Human36M_subject{s}_camera.json").write_text(
            json.dumps({str(ci): _camera_entry(s, ci, convention) for ci in cameras}))
        (ann / f"Human36M_subject{s}_joint_3d.json").write_text(json.dumps(joints3d))
    if detector_boxes:
        (root / "bbox_root").mkdir(exist_ok=True)
        (root / "bbox_root" / "bbox_root_human36m_output.json").write_text(json.dumps(detections))
    return root


def write_h36m_videopose3d(root: Path, *, subjects: Sequence[int] = H36M_SUBJECTS,
                           actions: Sequence[int] = H36M_ACTIONS, subactions: Sequence[int] = H36M_SUBACTIONS,
                           num_frames: int = H36M_NUM_FRAMES, order_2d: Sequence[int] | None = None) -> Path:
    """Layout 2: ``data_3d_h36m.npz`` (world metres, 32 joints) and ``data_2d_h36m_gt.npz``
    (distorted pixels, 17 joints, 4 cameras), both pickled dicts like VideoPose3D's.

    ``order_2d`` permutes the 2D joints (a 2D file whose order disagrees with the 3D one).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    poses_3d: dict = {}
    poses_2d: dict = {}
    for s in subjects:
        for a in actions:
            for sa in subactions:
                take = recording_name(s, a, sa)
                world = np.stack([h36m_world_pose(s, a, sa, f) for f in range(num_frames)])
                poses_3d.setdefault(subject_key(s), {})[take] = np.stack(
                    [_full_32(w / 1000.0) for w in world]).astype(np.float32)
                views = []
                for cid in CAMERA_IDS:
                    cam = h36m_camera(s, cid)
                    uv = cam.project(cam.world_to_camera(world)).astype(np.float32)
                    views.append(uv if order_2d is None else uv[:, list(order_2d)])
                poses_2d.setdefault(subject_key(s), {})[take] = views
    np.savez_compressed(root / "data_3d_h36m.npz", positions_3d=poses_3d)
    metadata = {"layout_name": "h36m", "num_joints": 17,
                "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    np.savez_compressed(root / "data_2d_h36m_gt.npz", positions_2d=poses_2d, metadata=metadata)
    return root


def write_cdf_pose(path: Path, pose: np.ndarray) -> None:
    """Write variable ``Pose`` of shape ``(1, N, values)`` like the original release."""
    from cdflib import cdfwrite

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    data = np.asarray(pose, dtype=np.float64).reshape(1, len(pose), -1)
    writer = cdfwrite.CDF(str(path), cdf_spec={"Majority": "Row_major"})
    writer.write_var({"Variable": "Pose", "Data_Type": cdfwrite.CDF.CDF_DOUBLE, "Num_Elements": 1,
                      "Rec_Vary": True, "Dim_Sizes": list(data.shape[1:])}, var_attrs={}, var_data=data)
    writer.close()


def write_h36m_cdf(root: Path, *, subjects: Sequence[int] = H36M_SUBJECTS, actions: Sequence[int] = H36M_ACTIONS,
                   subactions: Sequence[int] = H36M_SUBACTIONS, cameras: Sequence[int] = H36M_CAMERAS,
                   num_frames: int = H36M_NUM_FRAMES, mono: bool = True, world: bool = True,
                   videos: bool = False) -> Path:
    """Layout 3, the original release: ``S{n}/MyPoseFeatures/{D3_Positions, D3_Positions_mono,
    D2_Positions}/*.cdf`` (32 joints, mm / px).  ``videos`` adds empty ``Videos/*.mp4``
    placeholders (for the prepare script's bookkeeping tests)."""
    root = Path(root)
    for s in subjects:
        base = root / subject_key(s) / "MyPoseFeatures"
        for a in actions:
            for sa in subactions:
                take = recording_name(s, a, sa)
                w = np.stack([h36m_world_pose(s, a, sa, f) for f in range(num_frames)])
                if world:
                    write_cdf_pose(base / "D3_Positions" / f"{take}.cdf", np.stack([_full_32(x) for x in w]))
                for ci in cameras:
                    cam = h36m_camera(s, ci)
                    X = cam.world_to_camera(w)
                    if mono:
                        write_cdf_pose(base / "D3_Positions_mono" / f"{take}.{cam.name}.cdf",
                                       np.stack([_full_32(x) for x in X]))
                    uv = cam.project(X).astype(np.float32).astype(np.float64)
                    write_cdf_pose(base / "D2_Positions" / f"{take}.{cam.name}.cdf",
                                   np.stack([_full_32(x) for x in uv]))
                    if videos:
                        video = root / subject_key(s) / "Videos" / f"{take}.{cam.name}.mp4"
                        video.parent.mkdir(parents=True, exist_ok=True)
                        video.write_bytes(b"")
    return root


# --------------------------------------------------------------------------------------------
# MuPoTS-3D
# --------------------------------------------------------------------------------------------

#: Per-sequence image size and true intrinsics (fx, fy, cx, cy) of the fixture.
MUPOTS_SEQUENCES: dict[str, tuple[tuple[int, int], tuple[float, float, float, float]]] = {
    "TS1": ((2048, 2048), (1497.7, 1497.9, 1024.5, 1051.2)),
    "TS6": ((1920, 1080), (1395.2, 1394.8, 961.3, 538.6)),
}
MUPOTS_FRAMES = 2
MUPOTS_PEOPLE = 2
#: MuPoTS order index of each MuPoTS joint written from Human3.6M-17 joints.
_MUPOTS_FROM_H36M = [H36M_FROM_MUPOTS.index(m) for m in range(17)]

#: Body frame (x fwd, y left, z up) -> camera (X right, Y down, Z forward) for a person facing
#: the camera: the body's left is the image right, up is -Y, forward is -Z.
_BODY_TO_CAMERA = np.array([[0, 1.0, 0], [0, 0, -1.0], [-1.0, 0, 0]])


def mupots_person(sequence: str, frame: int, person: int) -> np.ndarray:
    """Camera-space Human3.6M-17 joints (mm) of one fixture person."""
    seed = int(sequence[2:]) * 10 + person
    body = body_pose(frame, seed) @ _rot_z(40.0 * person - 20.0 + 5 * frame).T
    cam = body @ _BODY_TO_CAMERA.T
    return cam + np.array([-700.0 + 1400.0 * person, 150.0, 3800.0 + 900.0 * person])


def mupots_valid(sequence: str, frame: int, person: int) -> bool:
    """Person 1 of the last frame of TS6 is not annotated (``isValidFrame = 0``)."""
    return not (sequence == "TS6" and frame == MUPOTS_FRAMES - 1 and person == 1)


def mupots_occluded(frame: int, person: int) -> np.ndarray:
    """Occlusion labels in Human3.6M-17 order: person 1 has its left wrist occluded."""
    occ = np.zeros(17, bool)
    if person == 1:
        occ[13] = True
    return occ


def _mupots_images(root: Path, sequences: Sequence[str]) -> None:
    for seq in sequences:
        (w, h), (fx, fy, cx, cy) = MUPOTS_SEQUENCES[seq]
        for f in range(MUPOTS_FRAMES):
            people = [pinhole(mupots_person(seq, f, p), (fx, fy), (cx, cy)) for p in range(MUPOTS_PEOPLE)]
            _draw_people(root / "MultiPersonTestSet" / seq / f"img_{f:06d}.jpg", w, h, people, seed=f)


def write_mupots_mat(root: Path, sequences: Sequence[str] = ("TS1", "TS6"), with_images: bool = True) -> Path:
    """Original MuPoTS-3D: ``MultiPersonTestSet/TS*/annot.mat`` (cell array frames x people of
    structs with annot2 2x17, annot3 3x17, univ_annot3, isValidFrame), ``occlusion.mat`` and
    ``img_%06d.jpg`` frames.  Joints in MuPoTS order; no intrinsics file, as in the release."""
    import scipy.io

    root = Path(root)
    for seq in sequences:
        _, (fx, fy, cx, cy) = MUPOTS_SEQUENCES[seq]
        ann = np.empty((MUPOTS_FRAMES, MUPOTS_PEOPLE), dtype=object)
        occ = np.empty((MUPOTS_FRAMES, MUPOTS_PEOPLE), dtype=object)
        for f in range(MUPOTS_FRAMES):
            for p in range(MUPOTS_PEOPLE):
                X = mupots_person(seq, f, p)
                uv = pinhole(X, (fx, fy), (cx, cy))
                univ = (X - X[0]) * 0.93 + X[0]
                ann[f, p] = {"annot2": uv[_MUPOTS_FROM_H36M].T, "annot3": X[_MUPOTS_FROM_H36M].T,
                             "univ_annot3": univ[_MUPOTS_FROM_H36M].T,
                             "isValidFrame": np.array([[float(mupots_valid(seq, f, p))]])}
                occ[f, p] = mupots_occluded(f, p)[_MUPOTS_FROM_H36M].astype(np.float64)[None]
        folder = root / "MultiPersonTestSet" / seq
        folder.mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(folder / "annot.mat", {"annotations": ann})
        scipy.io.savemat(folder / "occlusion.mat", {"occlusion_labels": occ})
    if with_images:
        _mupots_images(root, sequences)
    return root


def write_mupots_json(root: Path, sequences: Sequence[str] = ("TS1", "TS6"), with_images: bool = True) -> Path:
    """Moon's preprocessed MuPoTS-3D: ``MuPoTS-3D.json`` (images with intrinsics, per-person
    annotations in MuPoTS order) and ``bbox_root/bbox_root_mupots_output.json``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    images, annotations, detections = [], [], []
    for seq in sequences:
        (w, h), (fx, fy, cx, cy) = MUPOTS_SEQUENCES[seq]
        for f in range(MUPOTS_FRAMES):
            image_id = len(images)
            images.append({"id": image_id, "file_name": f"{seq}/img_{f:06d}.jpg", "width": w, "height": h,
                           "intrinsic": [fx, fy, cx, cy]})
            for p in range(MUPOTS_PEOPLE):
                X = mupots_person(seq, f, p)
                uv = pinhole(X, (fx, fy), (cx, cy))
                box = tight_bbox(uv).tolist()
                annotations.append({
                    "id": len(annotations), "image_id": image_id,
                    "keypoints_img": uv[_MUPOTS_FROM_H36M].tolist(), "keypoints_cam": X[_MUPOTS_FROM_H36M].tolist(),
                    "keypoints_vis": (~mupots_occluded(f, p))[_MUPOTS_FROM_H36M].tolist(), "bbox": box,
                    "is_valid": int(mupots_valid(seq, f, p)),
                })
                detections.append({"image_id": image_id, "bbox": box, "root_cam": X[0].tolist(), "score": 0.9})
    (root / "MuPoTS-3D.json").write_text(json.dumps({"images": images, "annotations": annotations}))
    (root / "bbox_root").mkdir(exist_ok=True)
    (root / "bbox_root" / "bbox_root_mupots_output.json").write_text(json.dumps(detections))
    if with_images:
        _mupots_images(root, sequences)
    return root


# --------------------------------------------------------------------------------------------
# MPII (3DMPPE's COCO-style JSON)
# --------------------------------------------------------------------------------------------

#: MPII order: r_ankle, r_knee, r_hip, l_hip, l_knee, l_ankle, pelvis, thorax, upper_neck,
#: head_top, r_wrist, r_elbow, r_shoulder, l_shoulder, l_elbow, l_wrist.
MPII_FIXTURE_PEOPLE = 3


def mpii_keypoints(person: int) -> np.ndarray:
    """``(16, 3)`` x, y, visibility of one fixture person (px in a 640 x 480 image)."""
    X = mupots_person("TS1", 0, person % 2) + [0, 0, 1500.0 * person]
    uv = pinhole(X, (700.0, 700.0), (320.0 + 60 * person, 240.0))
    upper_neck = uv[8] + 0.4 * (uv[10] - uv[8])
    from_h36m = [3, 2, 1, 4, 5, 6, 0, 8, None, 10, 16, 15, 14, 11, 12, 13]
    kp = np.zeros((16, 3))
    for m, h in enumerate(from_h36m):
        kp[m, :2] = upper_neck if h is None else uv[h]
        kp[m, 2] = 1
    if person == 1:
        kp[6] = 0  # pelvis not annotated: the loader uses the mid-hips
        kp[15] = 0  # left wrist not annotated
    return kp


def write_mpii_json(root: Path, with_images: bool = True) -> Path:
    """3DMPPE's MPII: ``annotations/train.json`` (COCO style, 16 keypoints x (x, y, v)) and
    ``images/*.jpg``; two images, three people."""
    root = Path(root)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    images = [{"id": i, "file_name": f"{i:09d}.jpg", "width": 640, "height": 480} for i in range(2)]
    annotations = []
    people: dict[int, list[np.ndarray]] = {0: [], 1: []}
    for p in range(MPII_FIXTURE_PEOPLE):
        kp = mpii_keypoints(p)
        image_id = 0 if p < 2 else 1
        people[image_id].append(kp[:, :2])
        vis = kp[:, 2] > 0
        box = tight_bbox(kp[vis, :2]).tolist()
        annotations.append({"id": p, "image_id": image_id, "category_id": 1, "keypoints": kp.reshape(-1).tolist(),
                            "num_keypoints": int(vis.sum()), "bbox": box, "iscrowd": 0})
    (root / "annotations" / "train.json").write_text(json.dumps({"images": images, "annotations": annotations}))
    if with_images:
        for im in images:
            skeletons = [mpii_to_h36m(np.column_stack([uv, np.ones(16)]))[0] for uv in people[im["id"]]]
            _draw_people(root / "images" / im["file_name"], 640, 480, skeletons, seed=im["id"])
    return root
