"""BVH motion capture: the reader, retargeting to Human3.6M-17, clip splits, the ``bvh:`` pose
source and ``data check --dataset bvh``.

Small BVH files written here cover everything everywhere; the real Bandai Namco clips (CC BY-NC,
never copied into the repository) are checked when ``../shared/data/mocap/bandai-namco-1`` exists."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import MOCAP

from partnas_lib import cli
from partnas_lib.config import get_preset
from partnas_lib.data.check import check_dataset, format_report
from partnas_lib.data.mocap import bvh, kinematics, library, retarget
from partnas_lib.data.mocap import check as mocap_check
from partnas_lib.data.sanity import facing_fractions
from partnas_lib.data.synth import pose_source
from partnas_lib.data.synth.synthetic import RENDER_VERSION, cache_path, generate_synthetic, split_seed
from partnas_lib.skeleton import JOINT_NAMES, NUM_JOINTS

needs_mocap = pytest.mark.skipif(not MOCAP.is_dir(), reason=f"{MOCAP} not present")
J = {name: i for i, name in enumerate(JOINT_NAMES)}
SIX = "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"


def _write(path: Path, hierarchy: str, frames: list[list[float]], frame_time: float = 1 / 30) -> Path:
    lines = ["HIERARCHY", hierarchy.strip("\n"), "MOTION", f"Frames: {len(frames)}", f"Frame Time: {frame_time:g}"]
    lines += [" ".join(f"{v:g}" for v in f) for f in frames]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


#: Three joints with 6 channels each: the child's position channels replace its OFFSET.
CHAIN = f"""
ROOT Root
{{
  OFFSET 0 0 0
  {SIX}
  JOINT A
  {{
    OFFSET 99 99 99
    {SIX}
    JOINT B
    {{
      OFFSET 1 0 0
      {SIX}
      End Site
      {{
        OFFSET 0 2 0
      }}
    }}
  }}
}}
"""


def _order_case(order: str) -> str:
    """Root with one rotating joint whose rotation channels come in ``order`` (e.g. "ZXY")."""
    channels = " ".join(f"{a}rotation" for a in order)
    return f"""
ROOT Root
{{
  OFFSET 0 0 0
  CHANNELS 3 Xposition Yposition Zposition
  JOINT Turn
  {{
    OFFSET 0 0 0
    CHANNELS 3 {channels}
    End Site
    {{
      OFFSET 1 0 0
    }}
  }}
}}
"""


def _humanoid(scale_cm: float = 1.0) -> str:
    """A Bandai-Namco-named skeleton standing upright (cm, Y up, facing +Z, left = +X); the
    root has 6 channels, every other joint 3 (ZXY), a mix the reader must also handle."""
    Node = tuple  # (name, offset, children, end-site offset or None)

    def arm(side: str, x: float) -> Node:
        return (f"UpperArm_{side}", (x, 18, 0), [(f"LowerArm_{side}", (0, -28, 0), [
            (f"Hand_{side}", (0, -25, 0), [], (0, -8, 0))], None)], None)

    def leg(side: str, x: float) -> Node:
        return (f"UpperLeg_{side}", (x, -5, 0), [(f"LowerLeg_{side}", (0, -42, 0), [
            (f"Foot_{side}", (0, -42, 0), [], (0, -5, 10))], None)], None)

    head = ("Neck", (0, 20, 0), [("Head", (0, 8, 0), [], (0, 15, 0))], None)
    chest = ("Chest", (0, 12, 0), [head, arm("L", 15), arm("R", -15)], None)
    hips = ("Hips", (0, 0, 0), [("Spine", (0, 12, 0), [chest], None), leg("L", 9), leg("R", -9)], None)

    def emit(node: Node, depth: int, root: bool = False) -> list[str]:
        name, offset, children, end = node
        pad = "  " * depth
        xyz = lambda v: " ".join(f"{c * scale_cm:g}" for c in v)  # noqa: E731
        out = [f"{pad}{'ROOT' if root else 'JOINT'} {name}", f"{pad}{{", f"{pad}  OFFSET {xyz(offset)}",
               f"{pad}  {SIX if root else 'CHANNELS 3 Zrotation Xrotation Yrotation'}"]
        for child in children:
            out += emit(child, depth + 1)
        if end is not None:
            out += [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {xyz(end)}", f"{pad}  }}"]
        return out + [f"{pad}}}"]

    return "\n".join(emit(hips, 0, root=True))


HUMANOID_JOINTS = 1 + 4 + 2 * 3 + 2 * 3  # Hips, Spine..Head, arms, legs (End Sites have no channels)


def _humanoid_frames(n: int, rng: np.random.Generator | None = None) -> list[list[float]]:
    """Frame 0 neutral; later frames bend joints randomly (root 6 channels + 3 per joint)."""
    frames = []
    for f in range(n):
        root = [3.0 * f, 92.0, -2.0 * f, 0.0, 0.0, 10.0 * f]
        n = 3 * (HUMANOID_JOINTS - 1)
        angles = np.zeros(n) if f == 0 or rng is None else rng.normal(0, 15, n)
        frames.append(root + list(angles))
    return frames


@pytest.fixture(scope="module")
def humanoid_folder(tmp_path_factory, cache_dir) -> Path:
    """Three motions (four clips: two takes of 'wave') of the fixture humanoid."""
    root = tmp_path_factory.mktemp("mocap")
    rng = np.random.default_rng(0)
    for name in ("wave_001", "wave_002", "jump_001", "bow_001"):
        _write(root / f"{name}.bvh", _humanoid(), _humanoid_frames(6, rng))
    return root


def test_reader_honours_position_channels_on_every_joint(tmp_path):
    # Frame: Root at (1, 2, 3) turned 90 deg about Z; A's channels put it at (10, 0, 0) from Root
    # (its OFFSET 99 99 99 is only the rest value); B sits 1 along A's X, turned 90 deg about X.
    frame = [1, 2, 3, 90, 0, 0] + [10, 0, 0, 0, 0, 0] + [1, 0, 0, 0, 90, 0]
    path = _write(tmp_path / "chain.bvh", CHAIN, [frame, [0] * 18])
    clip = bvh.parse_bvh(path)
    assert clip.hierarchy.names == ("Root", "A", "B", "B_end")
    assert list(clip.hierarchy.parents) == [-1, 0, 1, 2] and clip.num_frames == 2
    assert clip.frame_time == pytest.approx(1 / 30, rel=1e-4)
    pos, rot = kinematics.forward_kinematics(clip)
    # Root Rz(90) maps x -> y:  A = (1,2,3) + (0,10,0);  B = A + (0,1,0);  B's end (0,2,0) in B's
    # frame: Rx(90) maps y -> z, then Rz(90) keeps z:  end = B + (0,0,2).
    np.testing.assert_allclose(pos[0], [[1, 2, 3], [1, 12, 3], [1, 13, 3], [1, 13, 5]], atol=1e-9)
    # Frame 1 (all zero): A is at its channel position (0, 0, 0), not at its OFFSET.
    np.testing.assert_allclose(pos[1, 1], [0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(rot[0, 0] @ [1, 0, 0], [0, 1, 0], atol=1e-12)


@pytest.mark.parametrize("order, expected", [("ZXY", [0, 1, 0]), ("XYZ", [0, 0, 1])])
def test_rotation_order(tmp_path, order, expected):
    # Z = 90, X = 90, Y = 0 applied to the End Site (1, 0, 0).  ZXY: R = Rz Rx Ry, Rx leaves x
    # alone, then Rz takes x to y -> (0, 1, 0).  XYZ: R = Rx Ry Rz, Rz takes x to y, then Rx takes
    # y to z -> (0, 0, 1).
    values = {"X": 90.0, "Y": 0.0, "Z": 90.0}
    path = _write(tmp_path / f"{order}.bvh", _order_case(order), [[0, 0, 0] + [values[a] for a in order]])
    pos, _ = kinematics.forward_kinematics(bvh.parse_bvh(path))
    np.testing.assert_allclose(pos[0, 2], expected, atol=1e-12)
    # read_bvh: centimetres -> mm and Y up -> Z up, (x, y, z) -> (x, -z, y).
    motion = kinematics.read_bvh(path, scale=10.0)
    x, y, z = expected
    np.testing.assert_allclose(motion.positions[0, 2], [10 * x, -10 * z, 10 * y], atol=1e-9)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("MOTION", "MOTON"), r"unexpected 'MOTON'"),
    (lambda t: t.split("MOTION")[0], r"no 'MOTION' section"),
    (lambda t: t.replace("\n1 2 3 90 0 0 10 0 0 0 0 0 1 0 0 0 90 0\n", "\n1 2 3 90 0 0 10 0 0 0 0 0 1 0 0 0 90\n"),
     r"chain\.bvh:\d+: frame 0 has 17 values, but the hierarchy declares 18 channels"),
    (lambda t: t.replace("Frames: 2", "Frames: 3"), r"'Frames: 3' but 2 frame lines follow"),
    (lambda t: t.replace("CHANNELS 6 Xposition", "CHANNELS 5 Xposition", 1), r"declares 5 channels but lists 6"),
])
def test_malformed_files_name_file_and_line(tmp_path, edit, message):
    good = _write(tmp_path / "chain.bvh", CHAIN, [[1, 2, 3, 90, 0, 0, 10, 0, 0, 0, 0, 0, 1, 0, 0, 0, 90, 0], [0] * 18])
    good.write_text(edit(good.read_text()))
    with pytest.raises(bvh.BvhFormatError, match=message) as err:
        bvh.parse_bvh(good)
    assert str(good) in str(err.value)


def test_line_number_of_a_bad_frame(tmp_path):
    path = _write(tmp_path / "chain.bvh", CHAIN, [[0] * 18, [0] * 17, [0] * 18])
    lines = path.read_text().splitlines()
    bad = next(i for i, line in enumerate(lines, 1) if len(line.split()) == 17)
    with pytest.raises(bvh.BvhFormatError, match=rf"chain\.bvh:{bad}: frame 1 has 17 values"):
        bvh.parse_bvh(path)


def test_retarget_rules_on_the_fixture_humanoid(tmp_path):
    path = _write(tmp_path / "stand_001.bvh", _humanoid(), _humanoid_frames(4, np.random.default_rng(1)))
    motion = kinematics.read_bvh(path)
    assert retarget.detect_skeleton(motion.names).name == "bandai-namco"
    joints = retarget.retarget_to_h36m(motion)
    assert joints.shape == (4, NUM_JOINTS, 3) and np.all(np.isfinite(joints))

    def length(a: str, b: str) -> np.ndarray:
        return np.linalg.norm(joints[:, J[a]] - joints[:, J[b]], axis=-1)

    # Limb lengths are the mocap's (two-bone IK keeps them), left = right in every frame.
    for a, b, cm in (("hip", "knee", 42), ("knee", "ankle", 42), ("shoulder", "elbow", 28), ("elbow", "wrist", 25)):
        np.testing.assert_allclose(length(f"l_{a}", f"l_{b}"), 10 * cm, rtol=1e-6)
        np.testing.assert_allclose(length(f"r_{a}", f"r_{b}"), 10 * cm, rtol=1e-6)
    # Hips widened to Human3.6M's proportion: 132 mm x (leg 840 mm / 896 mm) each side.
    s = 840.0 / retarget.H36M_LEG_MM
    np.testing.assert_allclose(length("l_hip", "r_hip"), 2 * 132 * s, rtol=1e-6)
    # Frame 0 stands straight: head top ~111 mm x s above the nose, both above the thorax; the
    # spine joint between pelvis and thorax; the lowest ankle (2nd percentile frame) 100 mm up.
    f0 = joints[0]
    assert f0[J["head"], 2] - f0[J["nose"], 2] == pytest.approx((226 - 115) * s, rel=0.02)
    assert f0[J["nose"], 2] > f0[J["thorax"], 2] > f0[J["spine"], 2] > f0[J["pelvis"], 2]
    lowest = joints[:, [J["l_ankle"], J["r_ankle"]], 2].min(axis=1)
    assert np.percentile(lowest, 2) == pytest.approx(100.0)
    # Left is the actor's left: the fixture faces +Z (world -Y) with its left on +X; the nose
    # points forward.
    assert f0[J["l_hip"], 0] > f0[J["r_hip"], 0] and f0[J["nose"], 1] < f0[J["thorax"], 1]
    assert facing_fractions(joints[:1])["hips"] == 1.0
    # Units: a file in metres read with the right scale gives the same joints.
    metres = _write(tmp_path / "metres.bvh", _humanoid(0.01), [[v * (0.01 if i < 3 else 1) for i, v in enumerate(fr)]
                                                           for fr in _humanoid_frames(4, np.random.default_rng(1))])
    spec = retarget.SkeletonMap(**{**retarget.SKELETONS["bandai-namco"].__dict__, "name": "metres", "scale": 1000.0})
    np.testing.assert_allclose(retarget.retarget_to_h36m(kinematics.read_bvh(metres, scale=1000.0), spec), joints,
                               atol=1e-6)


def test_unknown_skeleton_is_named(tmp_path):
    path = _write(tmp_path / "chain.bvh", CHAIN, [[0] * 18])
    with pytest.raises(ValueError, match="unknown BVH skeleton.*SKELETONS"):
        retarget.retarget_to_h36m(kinematics.read_bvh(path))
    assert {"bandai-namco", "cmu"} <= set(retarget.SKELETONS)
    for spec in retarget.SKELETONS.values():  # every map names all direct joints
        assert set(spec.joints) == set(JOINT_NAMES) - {"spine", "nose", "head"}


def test_splits_keep_takes_together_and_are_disjoint():
    groups = [library.clip_group(f"walk_{s}_{t:03d}.bvh") for s in range(30) for t in (1, 2)]
    assert groups[0] == groups[1] == "walk_0"
    split = library.assign_splits(groups)
    assert set(split.values()) == set(library.SPLITS) and sorted(split) == sorted(set(groups))
    assert sum(v == "test" for v in split.values()) == sum(v == "val" for v in split.values()) == 3
    assert library.assign_splits(list(reversed(groups))) == split  # order-independent
    with pytest.raises(ValueError, match="at least 3 different motions"):
        library.assign_splits([library.clip_group(n) for n in ("a_001.bvh", "a_002.bvh", "b.bvh")])


def _assert_valid_samples(arrays, seed: int) -> None:
    for i in range(len(arrays)):
        arrays.sample(i).validate(f"bvh sample {i}")
    fx, fy, cx, cy = (arrays.intrinsics[:, None, i].astype(np.float64) for i in range(4))
    X = arrays.joints_3d.astype(np.float64)
    np.testing.assert_allclose(arrays.joints_2d[..., 0], fx * X[..., 0] / X[..., 2] + cx, atol=0.01)
    np.testing.assert_allclose(arrays.joints_2d[..., 1], fy * X[..., 1] / X[..., 2] + cy, atol=0.01)
    assert np.all(X[..., 2] > 1000)
    assert [m["subject"] for m in arrays.meta] == [f"synthetic-{seed}-{i}" for i in range(len(arrays))]


def test_generate_synthetic_from_the_fixture_folder(humanoid_folder):
    source = f"bvh:{humanoid_folder}"
    lib = library.load_mocap_folder(humanoid_folder)
    assert len(lib.clips) == 4 and lib.split_of_group["wave"] in library.SPLITS
    arrays = generate_synthetic(5, 0, 3, 32, supersample=1, pose_source=source, split="test")
    _assert_valid_samples(arrays, 5)
    test_clips = {c.name for c in lib.clips_in("test")}
    assert {m["clip"] for m in arrays.meta} <= test_clips
    again = generate_synthetic(5, 1, 2, 32, supersample=1, pose_source=source, split="test", batch_size=1)
    np.testing.assert_array_equal(again.images, arrays.images[1:])
    np.testing.assert_array_equal(again.joints_3d, arrays.joints_3d[1:])
    # The cache key covers the pose source; procedural keys are those of before pose sources.
    key = json.dumps(dict(version=RENDER_VERSION, split="test", count=3, base_seed=0, image_size=32, supersample=1),
                     sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    assert cache_path("/c", "test", 3, 0, 32, 1).name == f"synthetic-{digest}.npz"
    assert cache_path("/c", "test", 3, 0, 32, 1, source) != cache_path("/c", "test", 3, 0, 32, 1)


def test_mixed_pose_source_draws_both_kinds(humanoid_folder):
    """'mix:F:bvh:DIR' takes about a share F of the poses from the clips, the rest procedural;
    a pure BVH source still renders exactly what it rendered before mixing existed."""
    source = f"bvh:{humanoid_folder}"
    mixed = generate_synthetic(7, 0, 24, 32, supersample=1, pose_source=f"mix:0.5:{source}", split="train")
    _assert_valid_samples(mixed, 7)
    from_clips = sum("clip" in m for m in mixed.meta)
    assert 4 <= from_clips <= 20  # binomial(24, 0.5): outside this range with p < 0.002
    pure = generate_synthetic(7, 0, 3, 32, supersample=1, pose_source=source, split="train")
    assert all("clip" in m for m in pure.meta)
    assert pose_source.mocap_fraction(f"mix:0.25:{source}") == 0.25
    assert pose_source.mocap_fraction(source) == 1.0 and pose_source.mocap_fraction("procedural") == 0.0
    assert pose_source.parse_pose_source(f"mix:0.25:{source}") == Path(str(humanoid_folder))
    keys = {cache_path("/c", "train", 3, 0, 32, 1, s) for s in (source, f"mix:0.5:{source}", f"mix:0.25:{source}")}
    assert len(keys) == 3
    for bad in ("mix:1.5:bvh:/x", "mix:abc:bvh:/x", "mix:0.5:procedural", "mix:0:bvh:/x"):
        with pytest.raises(ValueError, match="mix:F:bvh"):
            pose_source.parse_pose_source(bad)


def test_config_pose_source_is_validated():
    cfg = get_preset("smoke")
    assert cfg.data.pose_source == "procedural"
    for good in ("bvh:/somewhere", "mix:0.3:bvh:/somewhere", "mix:.5:bvh:~/clips"):
        cfg.data.pose_source = good
        cfg.validate()
    for bad in ("mocap", "mix:1.5:bvh:/x", "mix:0:bvh:/x", "mix:0.5:procedural", "bvh:"):
        cfg.data.pose_source = bad
        with pytest.raises(ValueError, match="data.pose_source"):
            cfg.validate()


def test_check_reports_a_broken_clip(humanoid_folder, tmp_path):
    root = tmp_path / "mixed"
    for p in humanoid_folder.glob("*.bvh"):
        (root / p.name).parent.mkdir(exist_ok=True)
        (root / p.name).write_text(p.read_text())
    (root / "broken_001.bvh").write_text((humanoid_folder / "bow_001.bvh").read_text().split("MOTION")[0])
    r = check_dataset("bvh", root)
    assert r["clips"] == {"found": 5, "loaded": 4, "failed": [
        {"file": str(root / "broken_001.bvh"), "error": r["clips"]["failed"][0]["error"]}]}
    assert "broken_001.bvh" in r["problems"][0] and "MOTION" in r["problems"][0] and not r["ok"]
    assert r["asymmetry"]["thigh"]["max"] < 1e-6 and r["splits"]["train"]["clips"] >= 1
    text = format_report(r)
    assert "4 loaded, 1 failed" in text and "broken_001.bvh" in text


# Loading the 174 real clips takes about 3 s: the tests that use them are marked slow.
@pytest.fixture(scope="module")
def bandai(cache_dir) -> library.MocapLibrary:
    if not MOCAP.is_dir():
        pytest.skip(f"{MOCAP} not present")
    return library.load_mocap_folder(MOCAP)


@pytest.mark.slow
@needs_mocap
def test_all_bandai_clips_load_symmetric_and_plausible(bandai):
    assert len(library.find_bvh_files(MOCAP)) == 174
    assert len(bandai.clips) == 174 and not bandai.failures
    pairs = [((4, 5), (1, 2)), ((5, 6), (2, 3)), ((11, 12), (14, 15)), ((12, 13), (15, 16)), ((0, 4), (0, 1))]
    for clip in bandai.clips:
        j = clip.joints.astype(np.float64)
        for (la, lb), (ra, rb) in pairs:
            left = np.linalg.norm(j[:, lb] - j[:, la], axis=-1)
            right = np.linalg.norm(j[:, rb] - j[:, ra], axis=-1)
            assert np.all(np.abs(left - right) <= 0.05 * (left + right) / 2), clip.name
        assert 1400 <= mocap_check.skeleton_height(j) <= 2100, clip.name
        assert np.all(np.isfinite(j))
    heights = [mocap_check.observed_height(c.joints) for c in bandai.clips]
    assert 1400 <= np.median(heights) <= 2100
    assert facing_fractions(np.concatenate([c.joints[::10] for c in bandai.clips]))["hips"] > 0.9


@pytest.mark.slow
@needs_mocap
def test_bandai_splits_are_disjoint_clip_sets(bandai):
    names = {s: {c.name for c in bandai.clips_in(s)} for s in library.SPLITS}
    groups = {s: {c.group for c in bandai.clips_in(s)} for s in library.SPLITS}
    assert sum(map(len, names.values())) == 174
    for a, b in (("train", "test"), ("train", "val"), ("val", "test")):
        assert not names[a] & names[b] and not groups[a] & groups[b]
    assert 0.05 < len(names["test"]) / 174 < 0.2 and 0.05 < len(names["val"]) / 174 < 0.2
    # The two takes of a motion share a split.
    assert bandai.split_of(next(c for c in bandai.clips if c.name.endswith("walk_happy_001"))) == \
        bandai.split_of(next(c for c in bandai.clips if c.name.endswith("walk_happy_002")))


@pytest.mark.slow
@needs_mocap
def test_generate_synthetic_from_bandai(bandai):
    seed = split_seed(0, "test")
    source = f"bvh:{MOCAP}"
    arrays = generate_synthetic(seed, 0, 4, 32, supersample=1, pose_source=source, split="test")
    _assert_valid_samples(arrays, seed)
    test_clips = {c.name for c in bandai.clips_in("test")}
    assert {m["clip"] for m in arrays.meta} <= test_clips
    assert all(m["action"] and m["style"] for m in arrays.meta)
    one = generate_synthetic(seed, 2, 1, 32, supersample=1, pose_source=source, split="test")
    np.testing.assert_array_equal(one.images[0], arrays.images[2])
    np.testing.assert_array_equal(one.joints_2d[0], arrays.joints_2d[2])


@pytest.mark.slow
@needs_mocap
def test_check_bandai(bandai):
    r = check_dataset("bvh", MOCAP)
    assert r["ok"], r["problems"]
    assert r["clips"]["loaded"] == 174 and r["frames"] > 30000 and r["frame_rate"] == [30.0]
    assert 1400 < r["heights_mm"]["median"] < 2100
    assert {p["split"] for p in r["per_clip"]} == set(library.SPLITS)


def test_data_coverage_reports_nearest_poses_per_joint_and_action(humanoid_folder, capsys):
    """``partnas data coverage``: clip poses against procedural ones and the clips' own train split."""
    from partnas_lib.data.coverage import pose_coverage
    report = pose_coverage(humanoid_folder, split="test", samples=50, step=1)
    assert report["query_poses"] > 0 and report["train_poses"] > 0
    for side in ("procedural", "train"):
        assert set(report[side]["per_joint_mm"]) >= {"r_wrist", "l_ankle"}
        assert report[side]["per_joint_mm"]["pelvis"] == 0.0  # the canonical frame's origin
        assert 0 <= report[side]["median_mm"] < 2000
    assert sum(report["nearest_procedural_actions"].values()) == report["query_poses"]
    assert cli.main(["data", "coverage", "--root", str(humanoid_folder), "--samples", "20", "--step", "2"]) == 0
    out = capsys.readouterr().out
    assert "nearest-pose MPJPE" in out and "r_wrist" in out
    assert cli.main(["data", "coverage", "--root", str(humanoid_folder), "--samples", "0"]) == 2
    assert "--samples" in capsys.readouterr().err
