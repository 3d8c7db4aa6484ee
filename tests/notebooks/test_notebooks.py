"""The notebooks: run each one at smoke size with papermill and check the numbers it reports.

Each notebook in ``notebooks/`` has one ``parameters`` cell whose defaults do the real thing at
the ``cpu`` preset; here papermill injects smoke values, writes the executed copy to
``notebooks/_executed/NN_name.ipynb`` (git-ignored) and the notebook writes the metrics it
showed to ``notebooks/_executed/NN_name.metrics.json``, which the tests read back (the
recommenders pattern).  Each ``check_NN`` recomputes those numbers with the library from the
same inputs or run directory the notebook used and compares: a notebook that shows a wrong
number fails even when the number looks plausible.  Notebooks 03-06 share one run directory,
so the smoke search and retraining happen once.  Afterwards ``pytest --nbval-lax
notebooks/_executed/*.ipynb`` re-executes the executed copies (with their injected smoke
parameters) and compares the few cells marked ``# NBVAL_CHECK_OUTPUT``.

Select these tests with ``-m notebooks`` (or skip them with ``-m "not notebooks"``).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from PIL import Image

from partnas_lib import notebook as nb
from partnas_lib import pipeline
from partnas_lib.data.images import tight_bbox
from partnas_lib.data.splits import load_split
from partnas_lib.data.synth import scene_splits, scenes
from partnas_lib.data.synth.synthetic import generate_synthetic, split_seed
from partnas_lib.eval import analysis as eval_analysis
from partnas_lib.eval.evaluate import mean_pose_baseline, predict_camera_mm, predict_coords
from partnas_lib.eval.metrics import summarize
from partnas_lib.eval.predict import predict_inputs
from partnas_lib.models import receptive_field
from partnas_lib.models.build import build_baseline, build_derived, build_model, build_supernet, random_genotype
from partnas_lib.models.heads import count_parameters
from partnas_lib.models.summary import summarize_config
from partnas_lib.nas import analysis as nas_analysis
from partnas_lib.nas.agreement import genotype_agreement
from partnas_lib.nas.cost import op_macs
from partnas_lib.skeleton import bone_lengths, get_grouping

nbformat = pytest.importorskip("nbformat")
papermill = pytest.importorskip("papermill")

pytestmark = pytest.mark.notebooks

REPO = Path(__file__).resolve().parents[2]  # tests/notebooks/ -> the repository
NOTEBOOKS = REPO / "notebooks"
EXECUTED = NOTEBOOKS / "_executed"
RUN_DIR = EXECUTED / "runs" / "smoke"
KERNEL = "python3"
#: generous per-cell limit: a loaded 2-core machine can be several times slower than usual
CELL_TIMEOUT_S = 1800


def smoke_parameters(name: str) -> dict[str, Any]:
    """What CI injects into each notebook (the keys are exactly its parameters)."""
    common = {"PRESET": "smoke", "METRICS_OUT": str(EXECUTED / f"{name}.metrics.json")}
    run = {"RUN_DIR": str(RUN_DIR)}
    return {
        "01_data": {**common, "NUM_SAMPLES": 12, "MOCAP_DIR": ""},
        "02_search_space": common,
        "03_search": {**common, **run, "RUN_TRAINING": True, "SEEDS": [0, 1], "THREADS": "auto"},
        "04_architectures": {**common, **run, "RUN_TRAINING": True, "THREADS": "auto"},
        "05_results": {**common, **run, "RUN_TRAINING": True, "NUM_WORST": 4, "THREADS": "auto", "ABLATION": ""},
        "06_multi_person": {**common, **run, "RUN_TRAINING": True, "NUM_PEOPLE": 3, "SCENE_SEED": 0,
                            "MIN_SEPARATION_MM": 1000.0, "THREADS": "auto"},
    }[name]


NAMES = ["01_data", "02_search_space", "03_search", "04_architectures", "05_results", "06_multi_person"]

_executed: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def fresh_run_dir():
    """Start from empty run directories, so that a run left by older code is never resumed."""
    for path in (RUN_DIR, RUN_DIR.with_name(RUN_DIR.name + "-seed1")):
        shutil.rmtree(path, ignore_errors=True)
    yield


def _require_kernel() -> None:
    from jupyter_client.kernelspec import find_kernel_specs

    if KERNEL not in find_kernel_specs():
        pytest.fail(f"no Jupyter kernel named {KERNEL!r}; "
                    f"run: python -m ipykernel install --sys-prefix --name {KERNEL}")


def execute(name: str) -> Path:
    """Run ``notebooks/<name>.ipynb`` with its smoke parameters (once per session)."""
    out = EXECUTED / f"{name}.ipynb"
    if name in _executed and out.exists():
        return out
    _require_kernel()
    EXECUTED.mkdir(parents=True, exist_ok=True)
    metrics = EXECUTED / f"{name}.metrics.json"
    metrics.unlink(missing_ok=True)
    start = time.perf_counter()
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=smoke_parameters(name), kernel_name=KERNEL,
        cwd=str(NOTEBOOKS), progress_bar=False, execution_timeout=CELL_TIMEOUT_S,
    )
    _executed[name] = time.perf_counter() - start
    timings = EXECUTED / "timings.json"
    data = json.loads(timings.read_text()) if timings.exists() else {}
    data[name] = round(_executed[name], 1)
    timings.write_text(json.dumps(data, indent=2) + "\n")
    return out


def _finite(value: Any, where: str = "metrics") -> None:
    """Every number anywhere in ``value`` is finite."""
    if isinstance(value, dict):
        for k, v in value.items():
            _finite(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite(v, f"{where}[{i}]")
    elif isinstance(value, float):
        assert math.isfinite(value), f"{where} = {value}"


def _close(got: Any, expected: Any, where: str, rel: float = 1e-6, abs_: float = 1e-9) -> None:
    """``got`` (what a notebook wrote) equals ``expected`` (recomputed here): same keys, same
    lengths, numbers within ``rel`` / ``abs_``, everything else equal."""
    if isinstance(expected, np.ndarray):
        expected = expected.tolist()
    if isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), f"{where}: keys {sorted(got)} != {sorted(expected)}"
        for k in expected:
            _close(got[k], expected[k], f"{where}.{k}", rel, abs_)
    elif isinstance(expected, (list, tuple)):
        assert isinstance(got, list) and len(got) == len(expected), f"{where}: {got} != {expected}"
        for i, (g, e) in enumerate(zip(got, expected)):
            _close(g, e, f"{where}[{i}]", rel, abs_)
    elif isinstance(expected, (float, np.floating)):
        assert got == pytest.approx(float(expected), rel=rel, abs=abs_), f"{where} = {got}, recomputed {expected}"
    else:
        assert got == expected, f"{where} = {got!r}, expected {expected!r}"


def notebook_parameters(executed: Path) -> dict[str, Any]:
    """The parameters an executed notebook ran with: its ``parameters`` cell (the defaults), then
    the cell papermill injected."""
    nb = nbformat.read(executed, as_version=4)
    values: dict[str, Any] = {}
    for tag in ("parameters", "injected-parameters"):
        for cell in nb.cells:
            if tag in cell.metadata.get("tags", []):
                exec(cell.source, {}, values)
    return values


def _seed_dirs(p: dict) -> dict[str, Path]:
    """``"seed N"`` -> the run directory of that seed's search, as ``nb.search_seeds`` lays them
    out: the run's own seed in ``RUN_DIR``, the others where ``partnas search --seeds`` puts them."""
    run_dir = Path(p["RUN_DIR"])
    seed = nb.load_config(run_dir).seed
    return {f"seed {s}": run_dir if s == seed else pipeline.seed_dir(run_dir, s) for s in p["SEEDS"]}


# --------------------------------------------------------------------------------------------
# what each notebook must report: each number is recomputed here with the library, from the same
# inputs or run directory the notebook used (a notebook that shows the wrong thing fails), plus
# known values and relations a broken run would violate


def _crop_uv(x_c: np.ndarray, intr: np.ndarray, size: int) -> np.ndarray:
    """Camera-space joints to crop pixels through the 3DMPPE square box (notebook 01's exercise)."""
    from partnas_lib.camera import Camera, crop_intrinsics, square_bbox

    box = square_bbox(Camera(intr[:2], intr[2:]).project(x_c))
    crop = crop_intrinsics(intr, box, size)
    return Camera(crop[:2], crop[2:]).project(x_c)


def check_01(m: dict, p: dict) -> None:
    cfg = nb.make_config(p["PRESET"], progress=False)
    assert (m["num_joints"], m["num_bones"], m["num_parts"], m["num_samples"]) == (17, 16, 5, p["NUM_SAMPLES"])
    assert m["image_size"] == cfg.data.image_size == 64
    # the notebook's samples are the first training samples of the preset: draw them again
    arrays = generate_synthetic(split_seed(cfg.data.seed, "train"), 0, p["NUM_SAMPLES"], cfg.data.image_size,
                                supersample=cfg.data.supersample)
    # the exercises: sample 0 through its own camera, a 2 f camera, and twice as far (camera.py)
    intr, x_c, size = arrays.intrinsics[0].astype(np.float64), arrays.joints_3d[0].astype(np.float64), arrays.image_size
    ref = _crop_uv(x_c, intr, size)
    _close(m, {
        "num_samples": len(arrays), "image_size": arrays.image_size, "num_joints": m["num_joints"],
        "num_bones": m["num_bones"], "num_parts": m["num_parts"],
        "max_reprojection_error_px": eval_analysis.reprojection_errors(arrays).max(),
        "mean_root_depth_mm": arrays.root_depth.mean(),
        "mean_bone_length_mm": bone_lengths(arrays.joints_3d).mean(),
        "max_left_right_asymmetry_mm": eval_analysis.left_right_asymmetry(arrays.joints_3d).max(),
        "mean_height_mm": eval_analysis.person_heights(arrays.joints_3d).mean(),
        "actions": sorted({meta["action"] for meta in arrays.meta}),
        "zoom_crop_shift_px": np.abs(_crop_uv(x_c, intr * [2, 2, 1, 1], size) - ref).max(),
        "far_crop_shift_px": np.abs(_crop_uv(x_c + [0.0, 0.0, x_c[0, 2]], intr, size) - ref).max(),
    }, "01_data", abs_=1e-6)
    # the exercise: a crop does not see the focal length (exactly), and barely the distance
    assert m["zoom_crop_shift_px"] < 1e-6 < m["far_crop_shift_px"] < 0.1 * size
    # synthetic cameras have no distortion and bodies are symmetric: both are exact up to float32
    assert m["max_reprojection_error_px"] < 0.01 and m["max_left_right_asymmetry_mm"] < 0.01


def check_02(m: dict, p: dict) -> None:
    cfg = nb.make_config(p["PRESET"], progress=False)
    assert (m["num_edges"], m["num_ops"]) == (9, 8) and cfg.model.head_channels == 8
    # C = 8: sep 3x3 = 2 x (depthwise 8*9 + pointwise 8*8 + BN 2*8) = 304; dil 3x3 = 152 (once)
    assert m["op_params"] == {"none": 0, "max_pool_3x3": 0, "avg_pool_3x3": 0, "skip_connect": 0,
                              "sep_conv_3x3": 304, "sep_conv_5x5": 560, "dil_conv_3x3": 152, "dil_conv_5x5": 280}
    assert m["channels_changed_by_ops"] == 2  # K = 4: C / K = 2 of the 8 channels go through the ops
    assert m["arch_params"] == 5 * 9 * 8 + 5 * 9  # alpha (parts, edges, ops) + beta (parts, edges)
    assert m["supernet_params"] == count_parameters(build_supernet(cfg))
    # the notebook draws one random cell per part with default_rng(cfg.seed): random_genotype(cfg)
    assert m["derived_params_random"] == count_parameters(build_derived(cfg, random_genotype(cfg)))
    # the exercise: 1, 3, 5 and 17 parts, built again; alpha + beta is exactly 81 P
    for parts, got in m["parts_exercise"].items():
        c = nb.make_config(p["PRESET"], [f"model.parts={parts}"], progress=False)
        net = build_supernet(c)
        assert got == {"arch_params": 81 * len(get_grouping(parts)),
                       "supernet_head_params": count_parameters(net.heads),
                       "derived_params_random": count_parameters(build_derived(c, random_genotype(c)))}, parts
    assert sorted(m["parts_exercise"], key=int) == ["1", "3", "5", "17"]


def check_03(m: dict, p: dict) -> None:
    # the live mini-search and the collapse exercise (not re-run here: relations a broken run violates)
    mini = {k: m.pop(k) for k in ("mini_search_w_loss", "mini_search_final_free_share", "exercise_peak_free_share")}
    first, last = mini["mini_search_w_loss"]
    assert last < first, f"the mini-search did not learn: weight loss {first} -> {last}"
    assert 0.0 < mini["mini_search_final_free_share"] < 1.0
    peak = mini["exercise_peak_free_share"]  # the start is 4/8 (none, skip and the two pools)
    assert peak["plain_darts_no_warmup"] > peak["partnas_recipe"] >= 0.5 - 1e-3, peak
    dirs = _seed_dirs(p)
    cfg = nb.load_config(p["RUN_DIR"])
    histories = {label: nb.load_history(d) for label, d in dirs.items()}
    genotypes = {label: nb.load_genotype(d) for label, d in dirs.items()}
    history = histories[f"seed {cfg.seed}"]
    assert m["num_seeds"] == len(p["SEEDS"]) == 2
    assert all(h.finished and len(h.epochs) == cfg.search.epochs + 1 for h in histories.values())
    free = {label: {part: nas_analysis.parameter_free_fraction(c) for part, c in g.cells.items()}
            for label, g in genotypes.items()}
    agreement = genotype_agreement(list(genotypes.values()), labels=list(genotypes))
    _close(m, {
        "search_seconds": {label: h.search_seconds for label, h in histories.items()},
        "final_entropy": dict(zip(history.parts, nas_analysis.alpha_entropy(history)[-1])),
        "final_parameter_free_share": dict(zip(history.parts, nas_analysis.parameter_free_share(history)[-1])),
        "derived_parameter_free_fraction": free,
        "seed_similarity": agreement["mean"]["edge_op_jaccard_mean"],
        "num_seeds": len(genotypes),
        "final_w_loss": history.w_loss[-1],
    }, "03_search")
    assert all(s > 0 for s in m["search_seconds"].values())
    # every derived cell keeps 2 edges into each of its 3 nodes: fractions are multiples of 1/6
    assert all(round(6 * v, 9).is_integer() for seed in m["derived_parameter_free_fraction"].values()
               for v in seed.values())


def _run_dir(p: dict) -> Path:
    """The run a notebook read: its RUN_DIR when it trained, else the committed reference run."""
    return Path(p["RUN_DIR"]) if p.get("RUN_TRAINING", True) else nb.reference_run()


def check_04(m: dict, p: dict) -> None:
    from partnas_lib.config import get_preset

    run_dir = _run_dir(p)
    cfg = nb.load_config(run_dir)
    genotype = nb.load_genotype(run_dir)
    assert m["trunk_receptive_field_px"] == 211  # ResNet-18 to layer3
    model = build_derived(cfg, genotype)
    fields = receptive_field.part_receptive_fields(genotype, cfg.model.trunk_depth, cfg.model.trunk_stage,
                                                   cfg.model.head_cells)
    paper = get_preset("paper")
    assert receptive_field.trunk_receptive_fields(paper.model.trunk_depth, paper.model.trunk_stage)[-1][0] == 267
    paper_fields = receptive_field.part_receptive_fields(genotype, paper.model.trunk_depth, paper.model.trunk_stage,
                                                         paper.model.head_cells)
    depth = {part: nas_analysis.cell_conv_depth(c) for part, c in genotype.cells.items()}
    params = {part: count_parameters(h) for part, h in zip(model.grouping.part_names, model.heads)}
    free = {part: nas_analysis.parameter_free_fraction(c) for part, c in genotype.cells.items()}
    crop = cfg.data.image_size

    def limbs_vs_torso(values: dict) -> dict:  # by hand: the four limb parts against the torso part
        return {"limbs": float(np.mean([values[q] for q in ("right_arm", "left_arm", "right_leg", "left_leg")])),
                "torso": float(values["torso_head"])}

    # section 6: the kept ops' multiply-adds, op by op with the flop counter at each cell's resolution
    side = cfg.data.image_size // build_supernet(cfg).trunk.out_stride
    sizes = [(side * 2 ** (c + 1),) * 2 for c in range(cfg.model.head_cells)]
    kept = {part: float(sum(op_macs(op, cfg.model.head_channels, size) for op, _, _ in cell.edges for size in sizes))
            for part, cell in genotype.cells.items()}
    _close(m, {
        "receptive_field_px": fields, "trunk_receptive_field_px": 211, "crop_px": crop,
        "sees_whole_crop": {part: bool(r >= 2 * crop + 1) for part, r in fields.items()},
        "paper_scale_receptive_field_px": paper_fields, "conv_depth": depth, "head_params": params,
        "limbs_vs_torso": {"receptive_field_px": limbs_vs_torso(fields), "conv_depth": limbs_vs_torso(depth),
                           "parameter_free_fraction": limbs_vs_torso(free), "head_params": limbs_vs_torso(params)},
        "kept_op_macs": kept, "cost_aware": m["cost_aware"],  # cost_aware: read back from the files below
    }, "04_architectures")
    committed = REPO / "results" / "cost-aware"
    assert set(m["cost_aware"]) == {f"{float(f.name[len('lambda'):]):g}" for f in committed.glob("lambda*")}
    for lam, row in m["cost_aware"].items():  # every row recomputed from the committed genotype
        folder = committed / f"lambda{lam}"
        metrics = folder / "metrics.json"
        assert row["MPJPE (mm)"] == (json.loads(metrics.read_text())["mpjpe"] if metrics.exists() else None), lam
        lam_cfg, found = nb.load_config(folder), nb.load_genotype(folder)
        macs = summarize_config(lam_cfg, "searched", found)["macs"] / summarize_config(lam_cfg, "baseline")["macs"]
        assert row["MACs x baseline"] == pytest.approx(macs, rel=1e-9), lam
        free_edges = float(np.mean([nas_analysis.parameter_free_fraction(c) for c in found.cells.values()]))
        assert row["parameter-free edges"] == pytest.approx(free_edges), lam
        if float(lam) >= 0.05:  # the notebook's prose: from 0.05 on, all pooling and skips
            assert free_edges == 1.0, lam
    assert m["cost_aware"]["0.01"]["MACs x baseline"] < m["cost_aware"]["0"]["MACs x baseline"]
    # a head can only widen the trunk's field: at least the all-skip head (211 + 16 + 8 = 235 px),
    # so at a 64 px crop every head sees all of it, which is what the notebook says
    assert all(rf >= 235 for rf in m["receptive_field_px"].values())
    assert crop == 64 and all(m["sees_whole_crop"].values())


def check_05(m: dict, p: dict) -> None:
    import torch
    from scipy import stats

    from partnas_lib.data.batches import make_batch
    from partnas_lib.eval.metrics import mpjpe, pa_mpjpe
    from partnas_lib.models.integral import soft_argmax_3d

    run_dir = _run_dir(p)
    run = nb.load_results(run_dir)
    cfg = run.config
    test, train = load_split(cfg, "test"), load_split(cfg, "train")
    np.testing.assert_allclose(run.gt_mm, test.joints_3d)  # predictions.npz is of this test split
    summary = summarize(run.pred_mm, run.gt_mm, get_grouping(cfg.model.parts))
    errors = eval_analysis.per_sample_errors(run.pred_mm, run.gt_mm)
    actions = sorted({meta["action"] for meta in test.meta})
    per_action = {a: np.mean([e for e, meta in zip(errors, test.meta) if meta["action"] == a]) for a in actions}
    # the ablation's paired differences over seeds, recomputed with scipy (paired t interval)
    paired: dict[str, list[float]] = {}
    raw_p: dict[str, float] = {}
    ablation_file = nb.find_ablation("")  # what the notebook reads at its default
    if ablation_file is not None:
        variants = nb.ablation_runs(nb.load_ablation(ablation_file), ablation_file)
        by_seed = {k: {r["seed"]: r for r in runs} for k, runs in variants.items()}
        seeds = sorted(by_seed["part_aware"])
        for name in (k for k in variants if k != "part_aware"):
            for metric in ("mpjpe", "pa_mpjpe"):
                a = [by_seed["part_aware"][s][metric] for s in seeds]
                b = [by_seed[name][s][metric] for s in seeds]
                t_result = stats.ttest_rel(b, a)
                ci = t_result.confidence_interval(0.95)
                paired[f"{name}.{metric}"] = [float(np.mean(b) - np.mean(a)), float(ci.low), float(ci.high)]
                raw_p[f"{name}.{metric}"] = float(t_result.pvalue)
    # Holm by hand over the family the notebook reports: the k-th smallest of m p-values times
    # (m - k + 1), made monotone, capped at 1
    p_holm, running = {}, 0.0
    for k, (key, value) in enumerate(sorted(raw_p.items(), key=lambda kv: kv[1])):
        running = max(running, min(1.0, (len(raw_p) - k) * value))
        p_holm[key] = running
    # exercise 1: the mirrored ground truth, scored with rotations only
    mirrored = run.gt_mm * np.array([-1.0, 1.0, 1.0])
    # exercise 2: soft-argmax against a hard argmax on the first 64 test crops (no flip test)
    model, _ = nb.load_model(run_dir)
    vols = model.volumes(make_batch(test, np.arange(64), torch.device("cpu"))["image"])
    d, h, w = vols.shape[-3:]
    flat = vols.flatten(2).argmax(-1)
    hard = torch.stack([flat % w, (flat // w) % h, flat // (w * h)], dim=-1).double().numpy()
    soft = soft_argmax_3d(vols).double().numpy()

    def to_mm(c):
        return model.geometry.decode(c, test.bbox[:64], test.intrinsics[:64], test.root_depth[:64])

    # predictions.npz holds float32: metrics recomputed from it agree to ~1e-3 mm
    _close(m, {
        "mpjpe": summary["mpjpe"], "pa_mpjpe": summary["pa_mpjpe"], "per_part_mpjpe": summary["per_part_mpjpe"],
        "mpjpe_from_scratch": summary["mpjpe"], "pa_mpjpe_from_scratch": summary["pa_mpjpe"],
        "mean_pose_mpjpe": mean_pose_baseline(train, test), "per_action_mpjpe": per_action,
        "params": count_parameters(build_model(cfg, run.genotype)),
        "baseline_params": count_parameters(build_baseline(cfg)),
        "median_sample_mpjpe": np.median(errors), "worst_sample_mpjpe": errors.max(),
        "num_test_samples": cfg.data.num_test, "ablation_found": ablation_file is not None,
        "ablation_paired_difference": paired, "ablation_p_holm": p_holm,
        "mirrored_pa_mpjpe": pa_mpjpe(mirrored, run.gt_mm),
        "mirrored_pa_mpjpe_reflection_allowed": m["mirrored_pa_mpjpe_reflection_allowed"],
        "hard_argmax_mpjpe_64": mpjpe(to_mm(hard), test.joints_3d[:64]),
        "soft_argmax_mpjpe_64": mpjpe(to_mm(soft), test.joints_3d[:64]),
    }, "05_results", rel=0.0, abs_=0.01)
    assert m["num_test_samples"] == 128
    # what a trained network does: better than always predicting the mean training pose (a
    # network that learned nothing scores exactly that), and Procrustes alignment only helps
    assert m["mpjpe"] < m["mean_pose_mpjpe"], (m["mpjpe"], m["mean_pose_mpjpe"])
    assert m["pa_mpjpe"] < m["mpjpe"]
    assert m["baseline_params"] > m["params"]  # the 3DMPPE baseline at the same scale is larger
    # a mirror image is undone exactly by a reflection, never by a rotation
    assert m["mirrored_pa_mpjpe_reflection_allowed"] < 1e-6 < 10.0 < m["mirrored_pa_mpjpe"]
    if paired and ablation_file.parent.name == "procedural":  # the 8-seed run: what the notebook's prose says
        def mean(name: str, key: str = "mpjpe") -> float:
            return float(np.mean([by_seed[name][s][key] for s in seeds]))

        for metric in ("mpjpe", "pa_mpjpe"):
            # better than the shared decoder of equal width and than the baseline, beyond doubt
            for worse in ("shared", "baseline"):
                assert paired[f"{worse}.{metric}"][1] > 0 and p_holm[f"{worse}.{metric}"] < 0.05, (worse, metric)
            # no difference detected from the equal-size shared decoder, one random cell, DARTS-PT
            for level in ("shared_matched", "random", "random_best", "part_aware_pt"):
                assert p_holm[f"{level}.{metric}"] >= 0.05, (level, metric)
            low, high = paired[f"shared_matched.{metric}"][1:]
            assert low < 0 < high and high - low < 5.0  # "holds zero, a few millimetres narrow"
        parts = by_seed["part_aware"][seeds[0]]["per_part_mpjpe"]
        assert all(np.mean([by_seed["shared"][s]["per_part_mpjpe"][q] for s in seeds])
                   > np.mean([by_seed["part_aware"][s]["per_part_mpjpe"][q] for s in seeds]) for q in parts)
        assert 0.75 < mean("shared", "params") / mean("part_aware", "params") < 0.85  # "a fifth fewer"
        # the best of N random cells: above zero before Holm, on average no better than one draw
        assert all(paired[f"random_best.{metric}"][1] > 0 for metric in ("mpjpe", "pa_mpjpe"))
        assert mean("random_best") >= mean("random")
        assert mean("part_aware", "params") / mean("baseline", "params") < 0.3  # "a quarter of the parameters"


def check_06(m: dict, p: dict) -> None:
    from partnas_lib.models.rootnet import k_prior

    # the notebook's scene, drawn again from its seed
    setup = scenes.sample_setup(np.random.default_rng(p["SCENE_SEED"]), num_people=p["NUM_PEOPLE"],
                                min_separation_mm=p["MIN_SEPARATION_MM"])
    frame = scenes.render_frame(setup, p["SCENE_SEED"], frame=0)
    model, run_cfg = nb.load_model(_run_dir(p))
    crops = scene_splits.frame_arrays(frame, run_cfg.data.image_size)
    pred = predict_camera_mm(model, crops, batch_size=16, device="cpu", flip_test=True)
    coords = predict_coords(model, crops, batch_size=16, device="cpu", flip_test=True)
    shifted = model.geometry.decode(coords, crops.bbox, crops.intrinsics, crops.root_depth * 1.05)
    k = k_prior(crops.bbox, crops.intrinsics)
    with_prior = model.geometry.decode(coords, crops.bbox, crops.intrinsics, k)
    assert m["num_people"] == len(frame.people) == p["NUM_PEOPLE"] == 3
    # section 5: the scene as a PNG, person 0 through partnas predict with a focal 2x off either way
    box = ",".join(str(v) for v in tight_bbox(frame.people[0].joints_2d))
    fx, fy, cx, cy = frame.intrinsics
    scales = [0.5, 1.0, 2.0]
    with tempfile.TemporaryDirectory() as folder:
        png = Path(folder) / "scene.png"
        Image.fromarray(frame.image).save(png)
        predicted = [predict_inputs(_run_dir(p), [png], bbox=box, intrinsics=f"{fx * s},{fy * s},{cx},{cy}")
                     for s in scales]
    assert np.array_equal(predicted[1].crops[0], crops.images[0])  # the crop of section 2, byte for byte
    # without a RootNet the root depth is the prior k, proportional to the focal length
    root_depths = [k[0] * s for s in scales] if predicted[1].root_source == "k_prior" else \
        [q.root_depth_mm[0] for q in predicted]
    truth = crops.joints_3d[0] - crops.joints_3d[0, :1]
    # the network's numbers may differ in the last bits between thread counts: 1e-3 mm
    _close(m, {
        "num_people": len(frame.people), "root_depth_mm": crops.root_depth, "k_prior_mm": k,
        "hidden_joints": [int((~v).sum()) for v in crops.joints_vis],
        "root_error_mm": np.linalg.norm(pred[:, 0] - crops.joints_3d[:, 0], axis=-1),
        "root_relative_mpjpe": eval_analysis.per_sample_errors(pred, crops.joints_3d),
        "absolute_mpjpe_true_root": eval_analysis.absolute_errors(pred, crops.joints_3d),
        "absolute_mpjpe_root_plus_5pct": eval_analysis.absolute_errors(shifted, crops.joints_3d),
        "absolute_mpjpe_k_prior": eval_analysis.absolute_errors(with_prior, crops.joints_3d),
        "min_separation_mm": eval_analysis.min_pairwise_distance(np.stack([q.ground_xy for q in setup.people])),
        "predict_focal_scales": scales,
        "predict_root_depth_mm": root_depths,
        "predict_root_relative_mpjpe": [eval_analysis.per_sample_errors(q.joints_rel_mm, truth[None])[0]
                                        for q in predicted],
    }, "06_multi_person", rel=1e-6, abs_=1e-3)
    # a focal 2x off changes the root-relative pose little: its MPJPE stays within 10 % of the mean
    rel = np.asarray(m["predict_root_relative_mpjpe"])
    assert rel.max() - rel.min() < 0.1 * rel.mean(), rel
    # absolute and root-relative errors differ by at most the root's own error, either way
    gap = np.abs(np.subtract(m["absolute_mpjpe_true_root"], m["root_relative_mpjpe"]))
    assert np.all(gap <= np.asarray(m["root_error_mm"]) + 1e-6)
    # a 5 % root-depth error moves every joint by ~5 % of the depth: absolute errors grow
    assert sum(m["absolute_mpjpe_root_plus_5pct"]) > sum(m["absolute_mpjpe_true_root"])
    # the scene has occlusion: someone hides joints of someone else
    assert sum(m["hidden_joints"]) > 0


CHECKS: dict[str, Callable[[dict, dict], None]] = {
    "01_data": check_01, "02_search_space": check_02, "03_search": check_03,
    "04_architectures": check_04, "05_results": check_05, "06_multi_person": check_06,
}


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_reports_known_metrics(name):
    out = execute(name)
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']}"
    assert any(c.metadata.get("tags") == ["injected-parameters"] for c in nb.cells), "papermill injected nothing"
    metrics_path = EXECUTED / f"{name}.metrics.json"
    assert metrics_path.exists(), f"{name} did not write {metrics_path}"
    metrics = json.loads(metrics_path.read_text())
    _finite(metrics, name)
    CHECKS[name](metrics, notebook_parameters(out))


def test_binder_default_smoke_preset_still_reads_the_reference_run(monkeypatch, tmp_path):
    """What Binder opens: PARTNAS_PRESET=smoke (binder/start), no parameters set -- the notebook
    shows the committed reference run, and would train the smoke preset if asked to."""
    _require_kernel()
    monkeypatch.setenv("PARTNAS_PRESET", "smoke")
    out, metrics = tmp_path / "04_architectures.ipynb", tmp_path / "04.metrics.json"
    papermill.execute_notebook(
        str(NOTEBOOKS / "04_architectures.ipynb"), str(out), parameters={"METRICS_OUT": str(metrics)},
        kernel_name=KERNEL, cwd=str(NOTEBOOKS), progress_bar=False, execution_timeout=CELL_TIMEOUT_S,
    )
    p = notebook_parameters(out)
    assert p["PRESET"] == "smoke" and p["RUN_TRAINING"] is False and p["RUN_DIR"].endswith("notebooks-smoke")
    check_04(json.loads(metrics.read_text()), p)


def test_html_export_contains_an_interactive_3d_skeleton():
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(execute("01_data")))
    assert "scatter3d" in body, "no plotly 3D figure in the exported HTML"
    assert 'src="https://cdn.plot.ly' not in body, "the exported HTML loads plotly.js from a CDN (blank offline)"
    assert "plotly.js v" in body, "plotly.js is not embedded in the exported HTML"
    assert "<img" in body  # the matplotlib figures


# --------------------------------------------------------------------------------------------
# the committed notebooks themselves


def _committed() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def test_the_notebook_list_is_explicit():
    assert [p.stem for p in _committed()] == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_clean_with_one_parameters_cell(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{name} has outputs; strip them"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name} has {len(tagged)} cells tagged 'parameters'"
    declared = {line.split("=")[0].strip() for line in tagged[0].source.splitlines()
                if "=" in line and not line.lstrip().startswith("#")}
    assert declared == set(smoke_parameters(name)), f"{name}: parameters {declared}"
    # the defaults do the real thing (cpu), unless PARTNAS_PRESET says otherwise (Binder: smoke)
    assert 'PRESET = os.environ.get("PARTNAS_PRESET", "cpu")' in tagged[0].source
    assert nb.cells[0].cell_type == "markdown" and "What you will learn" in nb.cells[0].source
    assert nb.cells[-1].cell_type == "markdown" and "What you saw" in nb.cells[-1].source
    interactive = ("sample_figure(", "scene_figure(", "skeleton_figure(", "compare_figure(", "interactive_samples(")
    for c in code:
        if any(c.source.lstrip().startswith(f"skeleton3d.{f}") or f"\nskeleton3d.{f}" in c.source
               for f in interactive):
            assert c.source.startswith("# NBVAL_IGNORE_OUTPUT"), f"{name}: plotly/widget cell not ignored by nbval"


@pytest.mark.parametrize("name", NAMES)
def test_markdown_source_and_notebook_are_in_sync(name):
    """``NN_name.md`` (MyST, the source people edit and review) and ``NN_name.ipynb`` (what
    Jupyter opens) hold the same cells; ``jupytext --sync notebooks/NN_name.md`` fixes a pair."""
    jupytext = pytest.importorskip("jupytext")
    md = jupytext.read(NOTEBOOKS / f"{name}.md")
    committed = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    def cells(book):
        return [(c.cell_type, c.source.strip(), c.metadata.get("tags")) for c in book.cells]
    assert cells(md) == cells(committed), f"{name}.md and {name}.ipynb differ; run jupytext --sync notebooks/{name}.md"
