"""The notebooks: run each one at smoke size with papermill and check the numbers it reports.

Each notebook in ``notebooks/`` has one ``parameters`` cell whose defaults do the real thing at
the ``cpu`` preset; here papermill injects smoke values, writes the executed copy to
``notebooks/_executed/NN_name.ipynb`` (git-ignored) and the notebook writes the metrics it
showed to ``notebooks/_executed/NN_name.metrics.json``, which the tests read back (the
recommenders pattern).  Notebooks 03-06 share one run directory, so the smoke search and
retraining happen once.  Afterwards ``pytest --nbval-lax notebooks/_executed/*.ipynb``
re-executes the executed copies (with their injected smoke parameters) and compares the few
cells marked ``# NBVAL_CHECK_OUTPUT``.

Select these tests with ``-m notebooks`` (or skip them with ``-m "not notebooks"``).
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import pytest

nbformat = pytest.importorskip("nbformat")
papermill = pytest.importorskip("papermill")

pytestmark = pytest.mark.notebooks

REPO = Path(__file__).resolve().parents[1]
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
        "01_data": {**common, "NUM_SAMPLES": 12},
        "02_search_space": common,
        "03_search": {**common, **run, "SEEDS": [0, 1], "THREADS": "auto"},
        "04_architectures": {**common, **run},
        "05_results": {**common, **run, "NUM_WORST": 4, "THREADS": "auto"},
        "06_multi_person": {**common, **run, "NUM_PEOPLE": 3, "SCENE_SEED": 0},
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


def _between(value: float, lo: float, hi: float, what: str) -> None:
    assert lo <= value <= hi, f"{what} = {value}, expected within [{lo}, {hi}]"


# --------------------------------------------------------------------------------------------
# what each notebook must report


def check_01(m: dict) -> None:
    assert (m["num_joints"], m["num_bones"], m["num_parts"], m["num_samples"]) == (17, 16, 5, 12)
    assert m["max_reprojection_error_px"] < 0.01
    assert m["max_left_right_asymmetry_mm"] < 0.01
    _between(m["mean_root_depth_mm"], 3000, 8000, "mean root depth")
    _between(m["mean_bone_length_mm"], 150, 350, "mean bone length")
    _between(m["mean_height_mm"], 1400, 2100, "mean skeleton height")
    assert set(m["actions"]) <= {"standing", "walking", "reaching", "bending", "crouching", "sitting"}


def check_02(m: dict) -> None:
    assert (m["num_edges"], m["num_ops"]) == (9, 8)
    assert m["op_params"]["skip_connect"] == 0 and m["op_params"]["sep_conv_5x5"] > m["op_params"]["sep_conv_3x3"] > 0
    assert m["channels_changed_by_ops"] == 2  # smoke: C = 8 channels, K = 4 -> 2 go through the ops
    assert m["arch_params"] == 5 * 9 * 8 + 5 * 9
    assert 0 < m["derived_params_random"] < m["supernet_params"] * 2


def check_03(m: dict) -> None:
    assert m["num_seeds"] == 2 and set(m["search_seconds"]) == {"seed 0", "seed 1"}
    assert all(v > 0 for v in m["search_seconds"].values())
    for part, h in m["final_entropy"].items():
        _between(h, 0.0, 1.0 + 1e-9, f"normalised entropy of {part}")
    for part, s in m["final_parameter_free_share"].items():
        _between(s, 0.0, 1.0, f"parameter-free share of {part}")
    for seed in m["derived_parameter_free_fraction"].values():
        assert all(0.0 <= v <= 1.0 for v in seed.values())
    _between(m["seed_similarity"], 0.0, 1.0, "seed similarity")
    _between(m["final_w_loss"], 0.0, 50.0, "final weight loss")


def check_04(m: dict) -> None:
    trunk = m["trunk_receptive_field_px"]
    assert trunk == 211  # ResNet-18 to layer3
    for part, rf in m["receptive_field_px"].items():
        _between(rf, trunk, trunk + 2 * 3 * 8 * 8 + 64, f"receptive field of {part}")
    assert all(0 <= d <= 3 for d in m["conv_depth"].values())
    assert all(p > 0 for p in m["head_params"].values())
    assert set(m["limbs_vs_torso"]["receptive_field_px"]) == {"limbs", "torso"}


def check_05(m: dict) -> None:
    _between(m["mpjpe"], 1.0, 1000.0, "MPJPE")
    _between(m["pa_mpjpe"], 1.0, m["mpjpe"] + 1e-6, "PA-MPJPE (never above MPJPE)")
    _between(m["mean_pose_mpjpe"], 50.0, 1000.0, "mean-pose baseline")
    assert set(m["per_part_mpjpe"]) == {"torso_head", "right_arm", "left_arm", "right_leg", "left_leg"}
    assert all(0 < v < 2000 for v in m["per_part_mpjpe"].values())
    assert all(0 < v < 2000 for v in m["per_action_mpjpe"].values())
    assert m["num_test_samples"] == 128 and m["params"] > 0
    assert m["median_sample_mpjpe"] <= m["worst_sample_mpjpe"]
    assert m["baseline_params"] > m["params"]  # the 3DMPPE baseline at the same scale is larger
    assert m["ablation_found"] == (REPO / "results" / "ablation.json").is_file()  # the committed results are shown


def check_06(m: dict) -> None:
    assert m["num_people"] == 3
    assert all(1000 < d < 10000 for d in m["root_depth_mm"])
    assert m["min_separation_mm"] >= 800
    for key in ("root_relative_mpjpe", "absolute_mpjpe_true_root", "absolute_mpjpe_root_plus_5pct"):
        assert len(m[key]) == 3 and all(0 < v < 2000 for v in m[key]), key
    # a 5 % root-depth error moves every joint by ~5 % of the depth: absolute errors grow
    assert sum(m["absolute_mpjpe_root_plus_5pct"]) > sum(m["absolute_mpjpe_true_root"])


CHECKS: dict[str, Callable[[dict], None]] = {
    "01_data": check_01, "02_search_space": check_02, "03_search": check_03,
    "04_architectures": check_04, "05_results": check_05, "06_multi_person": check_06,
}


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_reports_plausible_metrics(name):
    out = execute(name)
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']}"
    assert any(c.metadata.get("tags") == ["injected-parameters"] for c in nb.cells), "papermill injected nothing"
    metrics_path = EXECUTED / f"{name}.metrics.json"
    assert metrics_path.exists(), f"{name} did not write {metrics_path}"
    metrics = json.loads(metrics_path.read_text())
    _finite(metrics, name)
    CHECKS[name](metrics)


def test_html_export_contains_an_interactive_3d_skeleton():
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(execute("01_data")))
    assert "scatter3d" in body, "no plotly 3D figure in the exported HTML"
    assert "cdn.plot.ly" in body, "plotly.js is not loaded by the exported HTML"
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
    assert "PRESET = \"cpu\"" in tagged[0].source  # the defaults do the real thing
    assert nb.cells[0].cell_type == "markdown" and "What you will learn" in nb.cells[0].source
    assert nb.cells[-1].cell_type == "markdown" and "What you saw" in nb.cells[-1].source
    interactive = ("sample_figure(", "scene_figure(", "skeleton_figure(", "compare_figure(", "interactive_samples(")
    for c in code:
        if any(c.source.lstrip().startswith(f"skeleton3d.{f}") or f"\nskeleton3d.{f}" in c.source
               for f in interactive):
            assert c.source.startswith("# NBVAL_IGNORE_OUTPUT"), f"{name}: plotly/widget cell not ignored by nbval"


def test_notebooks_match_their_generator():
    """``notebooks/build_notebooks.py`` and the committed notebooks say the same thing."""
    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOKS / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, cells in module.NOTEBOOKS.items():
        built = module.build(name, cells)
        committed = nbformat.read(NOTEBOOKS / name, as_version=4)
        assert [(c.cell_type, c.source, c.metadata.get("tags")) for c in built.cells] == \
            [(c.cell_type, c.source, c.metadata.get("tags")) for c in committed.cells], \
            f"{name} differs from build_notebooks.py; rerun python notebooks/build_notebooks.py"
