r"""Locomotion: walking, running and side-stepping from published joint-angle curves.

A gait is periodic.  One *cycle* starts when the right heel strikes the ground (phase
:math:`\varphi = 0`) and ends when it strikes again (:math:`\varphi = 1`); the left leg runs the
same curves half a cycle later (:math:`\varphi + \tfrac12`).  A pose drawn from a gait is the body
at a uniformly random phase, so the poses cover the whole cycle in proportion to the time spent
in each part of it.

The curves are the mean sagittal-plane angles of healthy adults, as tabulated in the gait
literature and stored here as a few keyframes ``(phase, degrees)`` that are interpolated
periodically:

* **walking** -- Winter, *Biomechanics and Motor Control of Human Movement* (4th ed. 2009,
  App. A) and Perry & Burnfield, *Gait Analysis* (2nd ed. 2010): the hip flexes about 30 deg at
  heel strike, extends to about -10 deg at the end of stance (50 %), and flexes again during
  swing; the knee flexes about 18 deg just after heel strike (loading response) and about
  60 deg in mid swing (about 73 %).  The arms swing in antiphase to the leg of the same side,
  about 30 deg at the shoulder, with the elbow 10-40 deg flexed (Murray, Sepic & Barnard 1967).
* **running** -- Novacheck, "The biomechanics of running", *Gait & Posture* 7 (1998): stance
  is only the first ~40 % of the cycle, the knee flexes about 40 deg during stance and
  90-105 deg in swing (sprinting: up to ~130), the hip reaches about 50 deg of flexion in late
  swing, the trunk leans forward, and the elbows stay bent near 90 deg.
* **side-stepping** -- the legs abduct and adduct in turn with little flexion (frontal-plane
  gait; e.g. Houck, *J. Orthop. Sports Phys. Ther.* 2003 on side-step cutting).

The curves measure the thigh against the *pelvis*, and the pelvis of a walking person is tilted
forward by about 10 deg (anterior pelvic tilt; Perry & Burnfield 2010; Kadaba et al.,
*J. Orthop. Res.* 8, 1990), in running by about 15 deg or more (Schache et al., *Gait & Posture* 10, 1999).
The body frame of :mod:`~partnas_lib.data.synth.body` is upright at ``pelvis_pitch = 0``, so the
thigh's angle to the vertical is the curve minus that tilt
(:data:`PELVIC_TILT`): about 20 deg forward at heel strike and 20 deg back at push-off in
walking, not 30 and 10.  Reading the curves as angles to the vertical puts every foot about
15 cm too far forward.

Walking backwards is, to a good approximation, forward walking played in reverse (Grasso,
Bianchi & Lacquaniti, *J. Neurophysiol.* 1998; Thorstensson 1986): the same poses in the
opposite order.  A single frame cannot tell the two apart, so backward walking needs no sampler
of its own.

Speed scales the swings: ``amplitude`` stretches every curve about its mean (slow stroll 0.7,
brisk walk 1.3; jog 0.75 .. sprint 1.35), as the ranges of motion grow with speed.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from partnas_lib.data.synth.posture import SIDES, foot_width_abduction, head_look, other_side, relaxed_arm

#: ``(phase, degrees)`` keyframes of one gait cycle, first keyframe at phase 0; interpolated
#: periodically by :func:`gait_curve`.  Sources in the module docstring.
WALK_HIP_FLEX = ((0.0, 30.0), (0.10, 27.0), (0.30, 10.0), (0.50, -10.0), (0.60, -3.0), (0.70, 15.0),
                 (0.85, 33.0))
WALK_KNEE_FLEX = ((0.0, 5.0), (0.15, 18.0), (0.40, 5.0), (0.50, 12.0), (0.60, 38.0), (0.73, 62.0),
                  (0.85, 35.0), (0.95, 5.0))
RUN_HIP_FLEX = ((0.0, 35.0), (0.20, 15.0), (0.40, -8.0), (0.50, -5.0), (0.65, 25.0), (0.85, 50.0))
RUN_KNEE_FLEX = ((0.0, 20.0), (0.15, 42.0), (0.40, 18.0), (0.55, 60.0), (0.70, 100.0), (0.85, 50.0))
#: Anterior pelvic tilt (deg) during each gait, ``(mean, standard deviation)``: the zero of the
#: hip curves above.  Sources in the module docstring.
PELVIC_TILT: dict[str, tuple[float, float]] = {"walking": (10.0, 3.0), "running": (15.0, 4.0)}


def gait_curve(keyframes: tuple[tuple[float, float], ...], phase: float, amplitude: float = 1.0) -> float:
    r"""The angle of a periodic gait curve at ``phase`` (cycles; wraps around).

    Linear interpolation between keyframes, periodic with period 1.  ``amplitude`` scales the
    curve about its mean :math:`\bar\theta`:
    :math:`\theta(\varphi) = \bar\theta + A\,(\theta_0(\varphi) - \bar\theta)`.
    """
    phases = np.array([p for p, _ in keyframes])
    values = np.array([v for _, v in keyframes])
    theta = float(np.interp(phase % 1.0, phases, values, period=1.0))
    mean = _curve_mean(keyframes)
    return mean + amplitude * (theta - mean)


@lru_cache(maxsize=None)
def _curve_mean(keyframes: tuple[tuple[float, float], ...]) -> float:
    """The mean angle of a gait curve over one cycle (64 evenly spaced phases)."""
    phases = np.array([p for p, _ in keyframes])
    values = np.array([v for _, v in keyframes])
    return float(np.interp(np.linspace(0.0, 1.0, 64, endpoint=False), phases, values, period=1.0).mean())


def _leg_phases(rng: np.random.Generator) -> dict[str, float]:
    """Right leg at a random phase of the cycle, the left half a cycle later."""
    phase = rng.uniform(0.0, 1.0)
    return {"r": phase, "l": phase + 0.5}


def walking(rng: np.random.Generator, a: dict[str, float]) -> None:
    """A walking pose at a random phase and speed (Winter 2009; Murray et al. 1967)."""
    amp = rng.uniform(0.7, 1.3)  # slow stroll .. brisk walk
    # Arm swing varies between people far more than leg motion does (from almost none to
    # twice the mean; Meyns, Bruijn & Duysens, Gait & Posture 38, 2013), so it has its own factor.
    arm_amp = amp * rng.uniform(0.4, 1.8)
    phases = _leg_phases(rng)
    cycle = 2 * np.pi * phases["r"]
    a["spine_flex"] = rng.uniform(0, 6)
    a["chest_flex"] = rng.uniform(-2, 5)
    a["pelvis_roll"] = 4 * amp * np.sin(2 * cycle)  # pelvic obliquity: twice per cycle
    a["spine_twist"] = 6 * amp * np.cos(cycle)  # shoulders counter-rotate against the hips
    a["spine_lat"] = rng.normal(0, 2)
    abduction = foot_width_abduction(rng, "walking")
    tilt = rng.normal(*PELVIC_TILT["walking"])
    for side in SIDES:
        p = phases[side]
        a[f"{side}_hip_flex"] = gait_curve(WALK_HIP_FLEX, p, amp) - tilt
        a[f"{side}_knee_flex"] = gait_curve(WALK_KNEE_FLEX, p, amp) + rng.uniform(-3, 3)
        a[f"{side}_hip_abd"] = abduction + rng.normal(0, 1.5)
        a[f"{side}_hip_twist"] = rng.normal(0, 6)
        if rng.uniform() < 0.15:  # carrying something or a hand in a pocket: the arm does not swing
            relaxed_arm(rng, a, side)
            continue
        swing = -np.cos(2 * np.pi * p)  # arm back at this side's heel strike, forward half a cycle later
        a[f"{side}_shoulder_flex"] = -4 + 16 * arm_amp * swing
        a[f"{side}_shoulder_abd"] = rng.uniform(5, 15)
        a[f"{side}_shoulder_twist"] = rng.normal(0, 10)
        a[f"{side}_elbow_flex"] = 22 + 13 * arm_amp * swing + rng.uniform(-5, 10)
    head_look(rng, a, flex=rng.uniform(0, 10))


def running(rng: np.random.Generator, a: dict[str, float]) -> None:
    """A running pose from jogging to sprinting (Novacheck 1998)."""
    amp = rng.uniform(0.75, 1.35)
    phases = _leg_phases(rng)
    cycle = 2 * np.pi * phases["r"]
    lean = rng.uniform(3, 12) * amp  # the trunk leans into the run
    a["pelvis_pitch"] = 0.5 * lean
    a["spine_flex"] = 0.5 * lean
    a["chest_flex"] = rng.uniform(-3, 5)
    a["pelvis_roll"] = 5 * amp * np.sin(2 * cycle)
    a["spine_twist"] = 10 * amp * np.cos(cycle)
    abduction = foot_width_abduction(rng, "running")
    tilt = rng.normal(*PELVIC_TILT["running"])
    for side in SIDES:
        p = phases[side]
        # The curve is the thigh against the anatomical pelvis (tilted forward by ``tilt``); the
        # body's root is turned by the lean, so hip_flex adds it back to keep the thigh in place.
        a[f"{side}_hip_flex"] = gait_curve(RUN_HIP_FLEX, p, amp) - tilt + a["pelvis_pitch"]
        a[f"{side}_knee_flex"] = gait_curve(RUN_KNEE_FLEX, p, amp) + rng.uniform(-5, 5)
        a[f"{side}_hip_abd"] = abduction + rng.normal(0, 2)
        a[f"{side}_hip_twist"] = rng.normal(0, 6)
        swing = -np.cos(2 * np.pi * p)
        a[f"{side}_shoulder_flex"] = 5 + 30 * amp * swing + 0.5 * lean
        a[f"{side}_shoulder_abd"] = rng.uniform(5, 20)
        a[f"{side}_shoulder_twist"] = rng.normal(0, 12)
        a[f"{side}_elbow_flex"] = 85 + 15 * swing + rng.uniform(-15, 15)
    head_look(rng, a, flex=-0.5 * lean)  # eyes stay on the path ahead


def side_stepping(rng: np.random.Generator, a: dict[str, float]) -> None:
    """Stepping sideways: one leg abducts to lead, the other follows; little flexion."""
    lead = str(rng.choice(list(SIDES)))
    trail = other_side(lead)
    cycle = 2 * np.pi * rng.uniform(0.0, 1.0)
    amp = rng.uniform(0.6, 1.3)
    a["pelvis_roll"] = (3 if lead == "l" else -3) * amp * np.sin(cycle)
    a["spine_flex"] = rng.uniform(0, 8)
    a["spine_lat"] = rng.normal(0, 3)
    stance = foot_width_abduction(rng, "standing")  # the feet come back to a standing width
    a[f"{lead}_hip_abd"] = stance + 18 * amp * max(0.0, np.sin(cycle))
    a[f"{trail}_hip_abd"] = stance + 10 * amp * max(0.0, -np.sin(cycle))
    for side in SIDES:
        a[f"{side}_hip_flex"] = rng.uniform(0, 15)
        a[f"{side}_knee_flex"] = rng.uniform(3, 25)
        a[f"{side}_hip_twist"] = rng.normal(0, 8)
        relaxed_arm(rng, a, side)
    head_look(rng, a)


__all__ = ["PELVIC_TILT", "RUN_HIP_FLEX", "RUN_KNEE_FLEX", "WALK_HIP_FLEX", "WALK_KNEE_FLEX", "gait_curve", "running",
           "side_stepping", "walking"]
