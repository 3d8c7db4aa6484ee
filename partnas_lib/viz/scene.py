"""Several synthetic people in one camera: a preview of the multi-person setting.

What exists now (and what this module composes from the library): the synthetic subjects and
poses of :mod:`partnas_lib.data.poses`, a Human3.6M-like camera from
:func:`partnas_lib.camera.h36m_like_rig`, the 3DMPPE crop of each person
(:func:`partnas_lib.camera.square_bbox`) and the ray caster of :mod:`partnas_lib.data.render`.

* :func:`sample_scene` places ``K`` people on one floor, seen by one camera, at least
  ``min_separation_mm`` apart, all fully inside the image;
* :func:`render_scene` draws the whole camera image.  The renderer draws one person per image,
  so people are rendered one by one and composited far to near (painter's algorithm, by root
  depth): good enough for a picture, but people never interpenetrate correctly;
* :func:`scene_crops` gives each person's crop as a :class:`SampleArrays` -- exactly what a
  single-person network evaluates, with the ground-truth box and root depth.

What does *not* exist yet (a later issue): a person detector, RootNet (each person's absolute
root depth from the box), MuPoTS-3D loading and its 3DPCK scorer.  Until then, absolute poses
come from ground-truth roots (see notebook ``06_multi_person``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from partnas_lib.camera import Camera, crop_intrinsics, h36m_like_rig, square_bbox
from partnas_lib.data.poses import Body, sample_body, sample_pose
from partnas_lib.data.render import render_batch
from partnas_lib.data.sample import SampleArrays
from partnas_lib.skeleton import NUM_JOINTS


@dataclass
class MultiPersonScene:
    """``K`` people seen by one camera.

    Attributes:
        camera: the calibrated camera (world -> camera -> pixels).
        joints_world: ``(K, 17, 3)`` mm, world frame (Z up, floor at 0).
        joints_cam: ``(K, 17, 3)`` mm, camera space (X right, Y down, Z forward).
        joints_2d: ``(K, 17, 2)`` pixels of the camera image.
        bboxes: ``(K, 4)`` the 3DMPPE square box of each person (x, y, w, h).
        bodies, actions: each person's subject and action.
        seed: the seed the scene was drawn from (renders derive their randomness from it).
    """

    camera: Camera
    joints_world: np.ndarray
    joints_cam: np.ndarray
    joints_2d: np.ndarray
    bboxes: np.ndarray
    bodies: list[Body]
    actions: list[str]
    seed: int

    def __len__(self) -> int:
        return len(self.joints_cam)

    @property
    def image_wh(self) -> tuple[int, int]:
        return tuple(int(v) for v in self.camera.size)  # type: ignore[return-value]

    def depth_order(self) -> np.ndarray:
        """Person indices from the farthest root to the nearest."""
        return np.argsort(-self.joints_cam[:, 0, 2])


def sample_scene(seed: int = 0, num_people: int = 3, min_separation_mm: float = 800.0,
                 camera_index: int | None = None, max_tries: int = 500) -> MultiPersonScene:
    """Draw ``num_people`` synthetic people in one world and one camera of a jittered rig.

    Each person is drawn as in the synthetic dataset (body, action, yaw, position within 1.2 m
    of the capture centre); a person is redrawn while their pelvis is closer than
    ``min_separation_mm`` (on the floor plane) to someone already placed, or while any joint
    leaves the image or comes nearer than 1 m to the camera.
    """
    if num_people < 1:
        raise ValueError(f"num_people must be >= 1, got {num_people}")
    rng = np.random.default_rng([int(seed), 7919])
    rig = h36m_like_rig(rng)
    cam = rig[int(rng.integers(len(rig))) if camera_index is None else int(camera_index)]
    width, height = cam.size
    bodies: list[Body] = []
    actions: list[str] = []
    world: list[np.ndarray] = []
    for _ in range(max_tries):
        if len(world) == num_people:
            break
        body = sample_body(rng)
        joints, action = sample_pose(rng, body)
        if any(np.linalg.norm(joints[0, :2] - w[0, :2]) < min_separation_mm for w in world):
            continue
        j_cam = cam.world_to_camera(joints)
        if np.any(j_cam[:, 2] < 1000.0):
            continue
        uv = cam.project(j_cam)
        if not ((uv >= 0).all() and (uv[:, 0] < width).all() and (uv[:, 1] < height).all()):
            continue
        bodies.append(body)
        actions.append(action)
        world.append(joints)
    if len(world) < num_people:
        raise RuntimeError(f"could not place {num_people} people {min_separation_mm} mm apart in {max_tries} tries; "
                           "lower num_people or min_separation_mm")
    joints_world = np.stack(world)
    joints_cam = cam.world_to_camera(joints_world)
    joints_2d = cam.project(joints_cam)
    bboxes = np.stack([square_bbox(uv, margin=1.25) for uv in joints_2d])
    return MultiPersonScene(cam, joints_world, joints_cam, joints_2d, bboxes, bodies, actions, int(seed))


def render_scene(scene: MultiPersonScene, size: int = 256, supersample: int = 2) -> np.ndarray:
    """The whole camera image of the scene, ``(size, size, 3)`` uint8 (the square top-left part
    of the sensor, which is all of it for Human3.6M's ~1000 x 1000 cameras).

    People are ray cast one per image through the same virtual camera and composited from the
    farthest to the nearest using each render's coverage (painter's algorithm).  The farthest
    person's render provides the background.
    """
    side = float(max(scene.image_wh))
    intr = crop_intrinsics(scene.camera.intrinsics, np.array([0.0, 0.0, side, side]), size)
    order = scene.depth_order()
    rngs = [np.random.default_rng([scene.seed, 104729, int(k)]) for k in order]
    images, cover = render_batch(scene.joints_cam[order], np.repeat(intr[None], len(order), 0),
                                 [scene.bodies[k] for k in order], size, rngs, supersample=supersample,
                                 return_coverage=True)
    canvas = images[0].astype(np.float64)
    for img, alpha in zip(images[1:], cover[1:]):
        a = alpha[..., None].astype(np.float64)
        canvas = canvas * (1.0 - a) + img.astype(np.float64) * a
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)


def scene_crops(scene: MultiPersonScene, image_size: int = 64, supersample: int = 2) -> SampleArrays:
    """Each person's 3DMPPE crop (ground-truth box), rendered alone, as ``SampleArrays``.

    These records are exactly what the single-person network and
    :func:`partnas_lib.eval.evaluate.predict_camera_mm` take: box, intrinsics of the full camera
    and the ground-truth root depth.  (In a real multi-person image other people would intrude
    into the crop; here each crop shows its person alone.)
    """
    k = len(scene)
    intr = scene.camera.intrinsics
    crop_intr = np.stack([crop_intrinsics(intr, b, image_size) for b in scene.bboxes])
    rngs = [np.random.default_rng([scene.seed, 15485863, i]) for i in range(k)]
    images = render_batch(scene.joints_cam, crop_intr, scene.bodies, image_size, rngs, supersample=supersample)
    return SampleArrays(
        images=images, joints_2d=scene.joints_2d.astype(np.float32), joints_3d=scene.joints_cam.astype(np.float32),
        joints_vis=np.ones((k, NUM_JOINTS), bool), root_depth=scene.joints_cam[:, 0, 2].astype(np.float32),
        intrinsics=np.repeat(intr[None], k, 0).astype(np.float32), bbox=scene.bboxes.astype(np.float32),
        has_3d=np.ones(k, bool),
        meta=[dict(subject=f"scene-{scene.seed}-person-{i}", action=a, frame=0, camera=scene.camera.name,
                   source="synthetic-scene") for i, a in enumerate(scene.actions)],
    )


__all__ = ["MultiPersonScene", "render_scene", "sample_scene", "scene_crops"]
