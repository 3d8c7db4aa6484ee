"""Write the numbered notebooks from the cell texts below (outputs empty, ready to commit).

    python notebooks/build_notebooks.py            # rewrite every notebook
    python notebooks/build_notebooks.py 03         # only 03_search.ipynb

The notebooks are the product; this script only keeps them consistent (one ``parameters``
cell each, ``NBVAL_IGNORE_OUTPUT`` on plotly/widget cells, no outputs).  If you edit a notebook
in Jupyter, port the change here too or it is lost the next time the script runs.  Every code
cell calls the library (``partnas_lib``): nothing here computes anything itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
IGNORE = "# NBVAL_IGNORE_OUTPUT\n"


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip("\n"))


def code(src: str, *tags: str, ignore_output: bool = False) -> nbformat.NotebookNode:
    cell = new_code_cell((IGNORE if ignore_output else "") + src.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def params(src: str) -> nbformat.NotebookNode:
    return code("# Parameters: papermill (-p NAME VALUE) overrides these; CI runs PRESET=\"smoke\".\n"
                + src.strip("\n"), "parameters")


SETUP = """
import json
from pathlib import Path

import numpy as np
from IPython.display import Markdown, display

from partnas_lib import notebook as nb

nb.setup()  # plotly renderer for JupyterLab + HTML export
"""

# ---------------------------------------------------------------------------------------------
NB01 = [
    md("""
# 01 · Data: skeleton, parts, camera and synthetic people

**What you will learn**

1. the Human3.6M-17 skeleton and how partnas groups its joints into *parts* -- the unit the
   paper searches a separate decoder for;
2. camera space (X right, Y down, Z forward, millimetres), pinhole projection, and the square
   crop box that turns a person in a 1000 x 1000 camera image into the network's small input;
3. how the synthetic people that train partnas on a laptop are made (a kinematic chain with
   joint limits, ray-cast solids, Human3.6M-like cameras);
4. how to look at any sample in 3D, coloured by part, with a slider;
5. how to point partnas at real Human3.6M data.
"""),
    params("""
PRESET = "cpu"          # smoke | cpu | paper: sets the crop size and the renderer's supersampling
NUM_SAMPLES = 32        # synthetic samples to draw and browse
METRICS_OUT = "01_data.metrics.json"
"""),
    code(SETUP + """
from partnas_lib.data.synth.synthetic import generate_synthetic, split_seed
from partnas_lib.skeleton import BONES, JOINT_NAMES, bone_lengths, get_grouping
from partnas_lib.eval import analysis as eval_analysis
from partnas_lib.viz import images, skeleton3d

cfg = nb.make_config(PRESET)
print(f"preset {cfg.preset}: {cfg.data.image_size} x {cfg.data.image_size} crops, parts = {cfg.model.parts}")
"""),
    md("""
## 1. The skeleton and its parts

Seventeen joints in the Human3.6M order used by 3DMPPE, VideoPose3D and mmpose; sixteen bones
(every joint but the pelvis has one parent).  The paper's premise: parts differ -- a wrist
moves far more freely than the torso -- so each **part** gets its own searched decoder.  The
default grouping has five kinematic parts; `model.parts` also takes `"1"` (one shared decoder,
the "previous methods" baseline), `"3"`, `"17"` (one per joint) or your own dict.
"""),
    code("""
# NBVAL_CHECK_OUTPUT
grouping = get_grouping(cfg.model.parts)
print(f"{len(JOINT_NAMES)} joints, {len(BONES)} bones, {len(grouping)} parts")
for part, joints in grouping.parts:
    print(f"  {part:<11} {[JOINT_NAMES[j] for j in joints]}")
"""),
    md("""
## 2. Camera space and projection

Every sample carries its 3D joints in **camera space** (mm; X right, Y down, Z forward), its 2D
joints in the camera image (px) and the camera's intrinsics `(fx, fy, cx, cy)`.  Projection is
`u = fx X / Z + cx`, `v = fy Y / Z + cy`.  We draw a few synthetic samples -- exactly the first
training samples of this preset (a sample is fixed by its seed and index) -- and check that
projecting the 3D joints lands on the 2D joints.
"""),
    code("""
arrays = generate_synthetic(split_seed(cfg.data.seed, "train"), 0, NUM_SAMPLES, cfg.data.image_size,
                            supersample=cfg.data.supersample)
reproj = eval_analysis.reprojection_errors(arrays)
print(f"{len(arrays)} samples; reprojection error: max {reproj.max():.2e} px "
      "(synthetic cameras have no lens distortion)")
print(f"root depth: {arrays.root_depth.min() / 1000:.1f} - {arrays.root_depth.max() / 1000:.1f} m from the camera")
"""),
    md("""
Left: the whole camera image with the projected skeleton; the dashed box is the 3DMPPE crop
(the tight box around the joints, grown by 1.25 and made square).  Right: that box resized to
the network's input.  The network never sees the full frame.
"""),
    code("""
fig = images.projection_figure(arrays, 0)
"""),
    md("""
The same person in 3D camera space, with the camera's viewing pyramid (frustum) drawn to the
person's depth.  Drag to rotate: the camera sits at the origin; the person stands several
metres down the Z axis.  (Figures show `(X, Z, -Y)` so that up is up.)
"""),
    code("""
skeleton3d.scene_figure(arrays.joints_3d[0], arrays.intrinsics[0], (1000, 1000),
                        title="camera space: the camera at the origin, the person ~5 m away")
""", ignore_output=True),
    md("""
## 3. Synthetic people

A synthetic subject has Human3.6M-like bone lengths (scaled by a height factor, left and right
equal), clothes and a build; an *action* (standing, walking, reaching, bending, crouching,
sitting) draws joint angles inside anatomical limits; forward kinematics turns them into 3D
joints; a jittered Human3.6M-like camera looks at the person; a small ray caster draws limbs
and torso as shaded solids with correct self-occlusion.  Here are the crops, then the same
crops with the 2D skeleton coloured by part.
"""),
    code("""
fig = images.image_grid(arrays, range(min(16, len(arrays))))
fig = images.image_grid(arrays, range(min(16, len(arrays))), skeleton=True, grouping=grouping)
"""),
    md("""
Bone lengths are constant along a body and symmetric: the kinematic chain cannot stretch a
thigh or make a left forearm longer than the right one -- unlike "template + noise" poses.
"""),
    code("""
lengths = bone_lengths(arrays.joints_3d)            # (N, 16) mm
asym = eval_analysis.left_right_asymmetry(arrays.joints_3d)        # (N,) mm, largest left/right difference
heights = eval_analysis.person_heights(arrays.joints_3d)           # (N,) mm, head top to lowest ankle
print(f"mean bone length {lengths.mean():.0f} mm; largest left/right difference {asym.max():.2e} mm")
print(f"skeleton heights (head top to ankle): {heights.min():.0f} - {heights.max():.0f} mm")
"""),
    md("""
## 4. Explore in 3D

One sample: its crop beside its 3D skeleton (root-relative, the way the metrics see it), both
coloured by part: **right limbs warm (red, orange), left limbs cool (blue, cyan), torso green**.
Below it, a slider walks through all samples (it needs a running kernel).
"""),
    code("""
skeleton3d.sample_figure(arrays, 0, grouping=grouping)
""", ignore_output=True),
    code("""
skeleton3d.interactive_samples(arrays, grouping=grouping)
""", ignore_output=True),
    md("""
## 5. Real data: Human3.6M

Human3.6M is licensed by its owners, so partnas never ships it: bring it in one of three layouts
and point partnas at the folder.

| layout | what you have | how it looks |
|---|---|---|
| 3DMPPE / I2L-MeshNet (recommended) | Moon et al.'s preprocessed release | `images/s_SS_act_AA_subact_BB_ca_CC/*.jpg`, `annotations/Human36M_subject{S}_{data,camera,joint_3d}.json` |
| VideoPose3D | `data_3d_h36m.npz` (+ `data_2d_h36m_gt.npz`) | world metres per subject/action; cameras come from the published calibrations |
| original release | `S{n}/MyPoseFeatures/D3_Positions*/<Action>.cdf` + videos | 32-joint CDF files; `data_scripts/prepare_h36m.py` converts them to the 3DMPPE layout |

Check a copy before training on it -- the command finds the layout, loads a few frames,
projects their 3D joints with the cameras and reports what is missing or inconsistent:

```bash
partnas data check --dataset h36m --root /path/to/Human36M
```

Then train on it, e.g. at paper scale on a GPU:

```bash
partnas reproduce --preset paper --out runs/h36m --set data.dataset=h36m --set data.root=/path/to/Human36M
```

By default that uses the 3DMPPE protocol subsets (`data.train_subset`, `data.test_subset`:
train S1, S5-S8 every 5th frame, test S9 and S11 every 64th frame).  Everything downstream --
the `Sample` record, the crops, this notebook's viewers -- is the same for real and synthetic
data: `partnas_lib.data.splits.load_split(cfg, "test")` gives arrays these viewers take.
"""),
    code("""
metrics = {
    "num_samples": len(arrays),
    "image_size": arrays.image_size,
    "num_joints": len(JOINT_NAMES),
    "num_bones": len(BONES),
    "num_parts": len(grouping),
    "max_reprojection_error_px": float(reproj.max()),
    "mean_root_depth_mm": float(arrays.root_depth.mean()),
    "mean_bone_length_mm": float(lengths.mean()),
    "max_left_right_asymmetry_mm": float(asym.max()),
    "mean_height_mm": float(heights.mean()),
    "actions": sorted({m["action"] for m in arrays.meta}),
}
print("metrics written to", nb.write_metrics(METRICS_OUT, metrics))
"""),
    md("""
## What you saw

* 17 joints, 16 bones, and the five kinematic parts that each get their own decoder;
* camera space in millimetres, a pinhole projection that lands exactly on the 2D joints, and
  the square crop box that becomes the network's input;
* synthetic people built from a kinematic chain (constant, symmetric bones) and ray cast with
  self-occlusion, seen by Human3.6M-like cameras;
* 3D skeletons coloured by part, one sample and a slider over all of them;
* the three Human3.6M layouts and `partnas data check`.

Next: **02_search_space** -- what the per-part decoders are searched from.
"""),
]

# ---------------------------------------------------------------------------------------------
NB02 = [
    md("""
# 02 · The search space: cells, mixed edges and per-part heads

**What you will learn**

1. what a *cell* is (2 input nodes, 3 intermediate nodes, 9 edges, a concatenated output);
2. the candidate *ops* and what each costs in weights;
3. how a *mixed edge* makes the choice of op differentiable (DARTS), and what PC-DARTS adds:
   *partial channels* with a channel shuffle, and *edge normalisation*;
4. how the supernet gives **every part its own head with its own alpha and beta**;
5. how a discrete cell is *derived* from alpha and beta.
"""),
    params("""
PRESET = "cpu"          # smoke | cpu | paper: sets channels, cells and the trunk
METRICS_OUT = "02_search_space.metrics.json"
"""),
    code(SETUP + """
import torch
import torch.nn.functional as F

from partnas_lib.models.build import build_supernet
from partnas_lib.models.heads import count_parameters
from partnas_lib.nas.cells import MixedEdge, channel_shuffle
from partnas_lib.nas.genotype import Genotype, derive_cell, edge_index, random_cell
from partnas_lib.skeleton import get_grouping
from partnas_lib.nas import analysis as nas_analysis
from partnas_lib.viz import cells, search as viz

cfg = nb.make_config(PRESET)
ops, C = cfg.search.ops, cfg.model.head_channels
print(f"preset {cfg.preset}: {len(ops)} candidate ops, C = {C} channels per part head, "
      f"{cfg.model.head_cells} cells per head, K = {cfg.search.partial_channels}")
"""),
    md("""
## 1. A cell

A cell is a small directed acyclic graph (IJCV Fig. 1).  Nodes `in 0` and `in 1` are its
inputs -- for the first cell, the trunk's last two feature maps; nodes 2, 3, 4 are
intermediate; each intermediate node sums one edge from **every** earlier node, which makes
2 + 3 + 4 = **9 edges**; the output concatenates nodes 2-4.  Before the search, every edge is a
*mixed* edge that applies all ops at once:
"""),
    code("""
# NBVAL_CHECK_OUTPUT
print(f"{len(edge_index())} edges (source, target):", edge_index())
"""),
    code("""
fig = cells.draw_cell(cells.supernet_cell(), title="the supernet cell: all 9 edges, each a mixed edge")
"""),
    md("""
## 2. The candidate ops

The PC-DARTS primitives.  All map `C` channels to `C` channels at the same resolution (the heads
are decoders: resolution doubles *between* cells).  Pooling and skip connections are free;
separable convolutions stack two depthwise-separable convs; dilated convs spread a kernel over
twice the span.  Costs at this preset's `C`:
"""),
    code("""
op_params = nas_analysis.op_parameter_counts(ops, C)
fig = cells.plot_op_parameters(op_params, C)
"""),
    md("""
## 3. The mixed edge (DARTS) and partial channels (PC-DARTS)

A mixed edge returns `sum_o softmax(alpha)_o * o(x)`: the op choice becomes a continuous
weight that gradient descent can learn.  PC-DARTS sends only `C / K` channels through the ops
(the rest bypass the edge), then shuffles channels so the next edge processes the others: about
`K` times less memory and compute.  Below, an edge with `K = 4`: only the first quarter of the
channels changes.
"""),
    code("""
torch.manual_seed(0)
edge = MixedEdge(C, ops, partial_channels=cfg.search.partial_channels, parts=1).eval()
x = torch.randn(1, C, 8, 8)
alpha = torch.zeros(1, len(ops))                       # uniform: every op weighs 1/8
with torch.no_grad():
    y = edge(x, F.softmax(alpha, dim=-1))
changed = (y - channel_shuffle(x, cfg.search.partial_channels)).abs().flatten(2).amax(-1)[0] > 1e-6
print(f"output {tuple(y.shape)}; channels changed by the ops: {int(changed.sum())} of {C}")
print("channel shuffle of 0..C-1 (K groups interleaved):", channel_shuffle(torch.arange(C).view(1, C, 1, 1).float(),
      cfg.search.partial_channels).flatten().int().tolist())
"""),
    md("""
**Edge normalisation.** Partial channels make the choice of *edges* noisy, so PC-DARTS gives
every edge a second weight: node `j` sums its incoming edges weighted by `softmax(beta_j)`.
When deriving, an edge's strength is `softmax(alpha)[best op] * softmax(beta)[edge]`.

## 4. One head per part

The paper's twist: every **part** gets its own head, and its own `alpha (9 x ops)` and
`beta (9)`.  partnas evaluates the heads of all parts as one part-grouped network (grouped 1x1
convs), mathematically the same as P separate heads but P times fewer kernel calls.
"""),
    code("""
supernet = build_supernet(cfg)
arch = sum(p.numel() for p in supernet.arch_parameters())
print(f"alpha {tuple(supernet.alpha.shape)} = (parts, edges, ops); beta {tuple(supernet.beta.shape)}")
print(f"supernet: trunk {count_parameters(supernet.trunk):,} + heads "
      f"{count_parameters(supernet.heads):,} weights; {arch} architecture parameters")
"""),
    md("""
## 5. Deriving a cell

The DARTS rule: on every edge take the strongest op except `none`; at every node keep the 2
strongest incoming edges.  To see it work, we hand-make an alpha that prefers `sep_conv_3x3`
everywhere and `dil_conv_5x5` on the edges into node 4 -- and derive:
"""),
    code("""
alpha = np.zeros((len(edge_index()), len(ops)))
alpha[:, ops.index("sep_conv_3x3")] = 1.0
for e, (src, dst) in enumerate(edge_index()):
    if dst == 4:
        alpha[e, ops.index("dil_conv_5x5")] = 2.0 + 0.1 * src   # the later sources win node 4
cell = derive_cell(alpha, beta=None, ops=ops, edges_per_node=2)
fig = cells.draw_cell(cell, title="derived from a hand-made alpha")
"""),
    md("""
A derived network keeps only those edges, one op each, with all `C` channels.  Its size
depends on the cells the search picks; here a random cell per part (what the random-search
baseline trains):
"""),
    code("""
rng = np.random.default_rng(cfg.seed)
grouping = get_grouping(cfg.model.parts)
random_genotype = Genotype({p: random_cell(rng, ops) for p in grouping.part_names}, grouping.to_json(), ops)
derived_params = nb.head_parameters(cfg, random_genotype)
display(Markdown(f"derived network with random cells: **{derived_params['total']:,}** parameters "
                 f"(trunk {derived_params['trunk']:,}); the supernet has {count_parameters(supernet):,}"))
fig = cells.draw_cells(random_genotype, title="a random cell per part")
"""),
    code("""
metrics = {
    "num_edges": len(edge_index()),
    "num_ops": len(ops),
    "op_params": op_params,
    "channels_changed_by_ops": int(changed.sum()),
    "supernet_params": count_parameters(supernet),
    "arch_params": arch,
    "derived_params_random": derived_params["total"],
}
print("metrics written to", nb.write_metrics(METRICS_OUT, metrics))
"""),
    md("""
## What you saw

* a cell: 2 inputs, 3 intermediate nodes, 9 edges, a concatenated output;
* the 8 candidate ops and their costs (pooling and skip are free);
* a mixed edge (softmax over ops), partial channels (only `C / K` channels go through the ops)
  and the channel shuffle;
* per-part architecture parameters: alpha `(parts, 9, ops)` and beta `(parts, 9)`;
* the derive rule turning alpha/beta into a discrete cell per part.

Next: **03_search** -- running the search and watching alpha and beta move.
"""),
]

# ---------------------------------------------------------------------------------------------
NB03 = [
    md("""
# 03 · The search: alpha and beta per part, epoch by epoch

**What you will learn**

1. how to run the search (stage 1 of the method) into a run directory and read its
   `search/alpha_history.json`;
2. how each part's op weights (alpha) and edge weights (beta) move, and how undecided the
   search still is (entropy);
3. which ops win where, and whether **different seeds** find the same cells;
4. the best-known failure of DARTS -- the drift to skip connections -- and what partnas does
   about it.
"""),
    params("""
PRESET = "cpu"                       # smoke | cpu | paper
RUN_DIR = "../runs/notebooks-cpu"    # shared by notebooks 03-06: each stage runs only once
SEEDS = [0, 1, 2]                    # extra seeds search into RUN_DIR/seed<N>
THREADS = "auto"                     # torch CPU threads: N, or "auto" (share the cores with other partnas jobs)
METRICS_OUT = "03_search.metrics.json"
"""),
    code(SETUP + """from partnas_lib import threads

threads.configure(THREADS)

from partnas_lib.nas.agreement import format_agreement, genotype_agreement
from partnas_lib.nas import analysis as nas_analysis
from partnas_lib.viz import cells, search as viz

cfg = nb.make_config(PRESET)
print(f"preset {cfg.preset}: {cfg.search.epochs} search epochs ({cfg.search.warmup_epochs} warm-up) "
      f"on {cfg.data.num_train} images, K = {cfg.search.partial_channels}, edge_norm = {cfg.search.edge_norm}")
"""),
    md("""
## 1. Run the search

`ensure_search` runs stage 1 of `pipeline.reproduce` into `RUN_DIR` -- or, if it already
finished, just reads it; an interrupted search resumes from its last epoch.  (From a shell:
`partnas search --preset cpu --out runs/notebooks-cpu --resume`.)  The training images are
split in two halves: the weights learn on one, alpha and beta on the other (first-order
bilevel optimisation).  During warm-up only the weights learn.
"""),
    code("""
genotype = nb.ensure_search(cfg, RUN_DIR)
cfg = nb.load_config(RUN_DIR)                  # a resumed run keeps the config it started with
history = nb.load_history(RUN_DIR)
print(f"{len(history.epochs) - 1} epochs recorded; parts: {history.parts}; search took {history.search_seconds:.0f} s")
fig = viz.plot_search_losses(history)
"""),
    md("""
## 2. Alpha per part

The mean of `softmax(alpha)` over a part's 9 edges, per op and epoch.  Everything starts at
`1/8` (dotted); the grey band is warm-up.  Alpha moves slowly (Adam, learning rate 6e-4 in DARTS; 3e-3 at the short `cpu` preset):
what matters is which op is *ahead* when the search ends, because deriving takes the argmax.
"""),
    code("""
fig = viz.plot_alpha_trajectories(history)
"""),
    md("""
Edge by edge, at the end of the search: red = the op gained weight, blue = it lost.  The framed
cells are what the derive rule keeps (the best non-`none` op on the 2 strongest edges per node).
"""),
    code("""
fig = viz.plot_op_heatmaps(history)
"""),
    md("""
## 3. Beta per part

Edge normalisation: each node spreads weight over its 2, 3 or 4 incoming edges (colours =
target node).  An edge whose beta rises is more likely to be kept.
"""),
    code("""
fig = viz.plot_beta_trajectories(history)
"""),
    md("""
## 4. Several seeds

DARTS-style searches are not reproducible across seeds: repeating the search with 2-4 seeds is
standard practice.  Each seed below is a full search on the same data and config (only the
seed changes); the first one is the search above.
"""),
    code("""
runs = nb.search_seeds(cfg, RUN_DIR, SEEDS)
histories = {f"seed {s}": nb.load_history(d) for s, d in runs.items()}
genotypes = {f"seed {s}": nb.load_genotype(d) for s, d in runs.items()}
fig = viz.plot_entropy(histories)
"""),
    md("""
Which ops win where -- per seed, how many of each part's kept edges use each op:
"""),
    code("""
fig = cells.plot_op_counts(genotypes)
"""),
    code("""
fig = cells.draw_cells_grid(genotypes)
agreement = genotype_agreement(list(genotypes.values()), labels=list(genotypes))
similarity = agreement["mean"]["edge_op_jaccard_mean"]  # None for a single seed
display(Markdown(format_agreement(agreement) + "\\n\\nEdge+op: the same connection with the same op. "
                 "Chance level (two *random* cells): about 0.58 for edges, 0.06 for edge+op."))
"""),
    md("""
## 5. The skip-connection collapse

Parameter-free ops (skip, pooling) make the *supernet* easy to fit early in training, so a
DARTS search tends to reward them -- and the derived network ends up with too few
convolutions.  partnas counters this the PC-DARTS way (partial channels, edge normalisation)
plus warm-up epochs with alpha frozen.  Watch the total alpha on parameter-free ops: a curve
climbing steadily towards 1 is the collapse.  To provoke it, try
`--set search.warmup_epochs=0 --set search.partial_channels=1 --set search.edge_norm=false`.
"""),
    code("""
fig = viz.plot_parameter_free_share(histories)
free = {label: {p: nas_analysis.parameter_free_fraction(c) for p, c in g.cells.items()} for label, g in genotypes.items()}
from partnas_lib.viz.results import dict_table_markdown
display(Markdown("Share of parameter-free edges in the derived cells:\\n\\n" + dict_table_markdown(free, "seed")))
"""),
    code("""
entropy_final = nas_analysis.alpha_entropy(history)[-1]
metrics = {
    "search_seconds": {label: h.search_seconds for label, h in histories.items()},
    "final_entropy": dict(zip(history.parts, entropy_final)),
    "final_parameter_free_share": dict(zip(history.parts, nas_analysis.parameter_free_share(history)[-1])),
    "derived_parameter_free_fraction": free,
    "seed_similarity": similarity,
    "num_seeds": len(genotypes),
    "final_w_loss": float(history.w_loss[-1]),
}
print("metrics written to", nb.write_metrics(METRICS_OUT, metrics))
"""),
    md("""
## What you saw

* the search recorded per part and per epoch: op weights (alpha), edge weights (beta), losses;
* alpha moves little but decisively: the derived cell is whatever is ahead at the end;
* entropy tells how undecided each part still is; more epochs (the `cpu` and `paper` presets)
  decide more;
* different seeds derive different cells -- read any single search with care;
* the parameter-free share is the early-warning signal of the DARTS skip-connection collapse.

Next: **04_architectures** -- the derived cells side by side, and what they see.
"""),
]

# ---------------------------------------------------------------------------------------------
NB04 = [
    md("""
# 04 · The architectures the search found

**What you will learn**

1. how to read the derived per-part cells of a run (`genotype.json`), side by side;
2. what each part's head can *see*: its theoretical receptive field in input pixels;
3. how deep (convolutions in a row) and how costly each part's head is;
4. whether limbs got different architectures than the torso -- the paper's premise.
"""),
    params("""
PRESET = "cpu"                       # smoke | cpu | paper
RUN_DIR = "../runs/notebooks-cpu"    # shared by notebooks 03-06: each stage runs only once
METRICS_OUT = "04_architectures.metrics.json"
"""),
    code(SETUP + """
from partnas_lib.eval import analysis as eval_analysis
from partnas_lib.models import receptive_field
from partnas_lib.viz import cells, results, search as viz

cfg = nb.make_config(PRESET)
genotype = nb.ensure_search(cfg, RUN_DIR)      # runs the search only if 03 has not
cfg = nb.load_config(RUN_DIR)                  # a resumed run keeps the config it started with
print(f"genotype.json of {RUN_DIR}: one cell per part for {list(genotype.cells)}")
"""),
    md("""
## 1. The derived cells

One cell type per part, stacked `head_cells` times with x2 up-sampling in between.  Each part
kept 2 incoming edges per node; colours and labels are the ops.
"""),
    code("""
fig = cells.draw_cells(genotype, title=f"derived cells, {cfg.preset} preset, seed {cfg.seed}")
"""),
    md("""
## 2. Receptive field per part

How far can a joint's heatmap "look" in the input image?  The trunk (a ResNet) already sees a
window of `rf` pixels; every op in a head widens it by `(k - 1) x stride` (a `sep_conv_5x5`
stacks two 5x5 convs: +8 feature pixels; a skip connection adds nothing), and the widest path
through the cell counts.  These are *theoretical* fields -- effective fields are smaller -- but
they compare parts fairly.
"""),
    code("""
trunk = receptive_field.trunk_receptive_fields(cfg.model.trunk_depth, cfg.model.trunk_stage)
summary = nb.architecture_summary(cfg, genotype)
fields = {p: row["receptive_field_px"] for p, row in summary.items()}
fig = cells.plot_receptive_fields(fields, trunk_field=trunk[-1][0], crop_size=cfg.data.image_size)
display(Markdown(results.dict_table_markdown(summary)))
"""),
    md("""
## 3. Limbs versus torso

The paper's premise is that limbs (many degrees of freedom) need different decoders than the
torso.  Averages over limb parts (arms, legs) and the rest (torso and head):
"""),
    code("""
comparison = {
    quantity: eval_analysis.split_limbs({p: row[quantity] for p, row in summary.items()})
    for quantity in ("receptive_field_px", "conv_depth", "parameter_free_fraction", "head_params")
}
display(Markdown(results.dict_table_markdown(comparison, "quantity")))
"""),
    md("""
At the small presets the search is short and its choices are noisy (see 03: seeds disagree), so
do not over-read a single run.  The question to ask at paper scale, over several seeds: do limb
heads consistently get wider fields or deeper convolution chains than the torso?
"""),
    code("""
metrics = {
    "receptive_field_px": fields,
    "trunk_receptive_field_px": trunk[-1][0],
    "conv_depth": {p: row["conv_depth"] for p, row in summary.items()},
    "head_params": {p: row["head_params"] for p, row in summary.items()},
    "limbs_vs_torso": comparison,
}
print("metrics written to", nb.write_metrics(METRICS_OUT, metrics))
"""),
    md("""
## What you saw

* the derived cell of every part, drawn side by side;
* each part head's receptive field, its deepest chain of convolutions and its size;
* a limbs-versus-torso summary of those numbers, to be read across seeds and at scale.

Next: **05_results** -- retraining the derived network and measuring it.
"""),
]

# ---------------------------------------------------------------------------------------------
NB05 = [
    md("""
# 05 · Results: retrain, evaluate, look at the errors

**What you will learn**

1. how stage 2 (retraining the derived network from scratch) and the evaluation run, and what
   `metrics.json` holds;
2. MPJPE and PA-MPJPE overall, per part, per joint and per action, next to the mean-pose
   baseline;
3. where the ablation table (`results/ablation.json`) and the parameter comparison with the
   3DMPPE baseline come from;
4. how to look at predictions in 3D, worst cases first;
5. how to read the protocol card before comparing numbers.
"""),
    params("""
PRESET = "cpu"                       # smoke | cpu | paper
RUN_DIR = "../runs/notebooks-cpu"    # shared by notebooks 03-06: each stage runs only once
NUM_WORST = 8                        # worst test samples to browse
THREADS = "auto"                     # torch CPU threads: N, or "auto" (share the cores with other partnas jobs)
METRICS_OUT = "05_results.metrics.json"
"""),
    code(SETUP + """from partnas_lib import threads

threads.configure(THREADS)

from partnas_lib import pipeline
from partnas_lib.ablation.report import ablation_markdown
from partnas_lib.data.splits import load_split
from partnas_lib.eval import analysis as eval_analysis
from partnas_lib.viz import results, skeleton3d

cfg = nb.make_config(PRESET)
"""),
    md("""
## 1. Retrain and evaluate

`pipeline.reproduce(cfg, RUN_DIR, resume=True)` is `partnas reproduce --resume`: it skips the
search if it finished (notebook 03), retrains the derived network from scratch (Adam, step
decay, flip augmentation) unless that finished too, and evaluates on a held-out test split
(ground-truth box and root depth, flip test).
"""),
    code("""
metrics = pipeline.reproduce(cfg, RUN_DIR, resume=True)
run = nb.load_results(RUN_DIR)
cfg = run.config                               # a resumed run keeps the config it started with
display(Markdown(results.summary_markdown(run.metrics)))
"""),
    md("""
The **mean-pose baseline** always predicts the training set's average pose: a network that
learned nothing scores exactly that.  The gap to it is what the network learned.  These are
synthetic test people at a small preset: do not compare them with the paper's 47.3 mm on
Human3.6M.
"""),
    code("""
fig = results.plot_per_part(run.metrics)
fig = results.plot_per_joint(run.metrics, cfg.model.parts)
fig = results.plot_per_action(run.metrics)
"""),
    md("""
Errors grow along the kinematic chains (wrists and ankles are hardest, the pelvis is the
alignment root and scores 0).  Per sample:
"""),
    code("""
errors = eval_analysis.per_sample_errors(run.pred_mm, run.gt_mm)
fig = results.plot_error_histogram(errors, run.metrics)
"""),
    md("""
## 2. The ablation table and the baseline's size

`partnas ablate` retrains, at equal budget and over several seeds, the part-aware network, a
single shared decoder, random cells and the 3DMPPE ResNet + deconvolution baseline, and writes
`ablation.json`.  The repository commits one real run at the `cpu` preset (3 seeds, about
50 minutes on 2 CPU cores) in `results/`, so this notebook shows it without recomputing; the
README says what it means for the paper's claims.
"""),
    code("""
ablation_path = nb.find_results_file("results/ablation.json")
if ablation_path is None:
    display(Markdown("_No `results/ablation.json` here: run "
                     "`partnas ablate --preset cpu --seeds 0 1 2 --out results` (see the README)._"))
else:
    ablation = nb.load_ablation(ablation_path)
    display(Markdown(f"From `{ablation_path}`:\\n\\n" + ablation_markdown(ablation)))
    fig = results.plot_ablation(ablation)
"""),
    md("""
The "Is the gap real?" tables test each difference against the spread over seeds (Welch's
t-test, `partnas_lib.ablation.report.compare_variants`): with three seeds only large, consistent gaps
reach p < 0.05.  Read the left panel part by part: the paper's premise is that a decoder
searched per part helps most where the parts differ most from the torso (arms, legs).  The
right panel is the accuracy-for-size question: the paper's network beats the ResNet-50
baseline with 62 % fewer parameters.  Error bars are the standard deviation over seeds.
"""),
    md("""
Five part heads have more parameters than one shared head of the same width, so the
part-aware network's edge over `shared` could be capacity alone.  `results/capacity/` holds the
control: the shared searched decoder with wider cells (`--set model.head_channels=40`), about
as many parameters as the part-aware network.
"""),
    code("""
capacity_path = nb.find_results_file("results/capacity/ablation.json")
if capacity_path is not None:
    display(Markdown(ablation_markdown(nb.load_ablation(capacity_path))))
"""),
    code("""
baseline = nb.baseline_parameters(cfg)
display(Markdown(f"Parameters at the `{cfg.preset}` preset: derived part-aware network "
                 f"**{run.metrics['params']:,}**, 3DMPPE-style baseline **{baseline:,}** "
                 f"({100 * (1 - run.metrics['params'] / baseline):.0f} % fewer; "
                 "the paper claims 62 % at 256 x 256)."))
"""),
    md("""
## 3. Predictions in 3D, worst first

Grey: ground truth; coloured by part: the prediction; dotted: each joint's error.  Both are
root-aligned, as MPJPE sees them.  The slider below walks through the worst samples.
"""),
    code("""
test = load_split(cfg, "test")
worst = np.argsort(-errors)[:NUM_WORST]
skeleton3d.sample_figure(test, int(worst[0]), run.pred_mm, cfg.model.parts)
""", ignore_output=True),
    code("""
skeleton3d.interactive_samples(test, run.pred_mm, cfg.model.parts, order=worst, description="worst")
""", ignore_output=True),
    md("""
## 4. The protocol card

Numbers are only comparable when they measure the same thing.  `metrics.json` says what was
measured (docs/method.md Sec. 3: "Protocol 1/2" mean opposite things in different code bases, so
partnas names metrics by what they compute):
"""),
    code("""
display(Markdown(results.protocol_card_markdown(run.metrics)))
"""),
    code("""
path = nb.write_metrics(METRICS_OUT, {
    "mpjpe": run.metrics["mpjpe"],
    "pa_mpjpe": run.metrics["pa_mpjpe"],
    "mean_pose_mpjpe": run.metrics["mean_pose_mpjpe"],
    "per_part_mpjpe": run.metrics["per_part_mpjpe"],
    "per_action_mpjpe": run.metrics["per_action_mpjpe"],
    "params": run.metrics["params"],
    "baseline_params": baseline,
    "median_sample_mpjpe": float(np.median(errors)),
    "worst_sample_mpjpe": float(errors.max()),
    "num_test_samples": int(len(errors)),
    "ablation_found": ablation_path is not None,
})
print("metrics written to", path)
"""),
    md("""
## What you saw

* stage 2 and the evaluation, resumable, in the same run directory as the search;
* MPJPE / PA-MPJPE overall, per part, per joint and per action, against the mean-pose baseline;
* where the ablation table and the baseline parameter count come from;
* GT-vs-prediction skeletons in 3D, worst first;
* the protocol card that makes a number comparable.

Next: **06_multi_person** -- several people in one camera.
"""),
]

# ---------------------------------------------------------------------------------------------
NB06 = [
    md("""
# 06 · Several people in one camera (a preview)

The paper also reports multi-person results (MuPoTS-3D), using the 3DMPPE pipeline: a person
detector gives boxes, **RootNet** estimates each person's absolute root depth, and the pose
network predicts each person's root-relative 3D pose, back-projected with the camera.

**What exists now**: the MuPoTS-3D loaders (`partnas_lib/data/datasets/mupots.py`; check a copy with
`partnas data check --dataset mupots --root DIR`), and -- this notebook -- several synthetic
people placed in one camera space, a rendered camera image, each person's crop, and the
single-person network applied to every crop *with the ground-truth root depth*.
The full pipeline lives in the library and the command line (section 4): RootNet, boxes from a
`bbox_root_*.json` file, the MuPoTS-3D 3DPCK scorer and `partnas evaluate --dataset
synthetic-multi|mupots`.  This notebook stays a light preview on true root depths -- and section
3 shows why the root depth is the hard part.

**What you will learn**

1. how several people share one camera space;
2. how the single-person network's output becomes an absolute 3D pose;
3. how sensitive absolute errors are to the root depth (why RootNet matters).
"""),
    params("""
PRESET = "cpu"                       # smoke | cpu | paper
RUN_DIR = "../runs/notebooks-cpu"    # shared by notebooks 03-06: each stage runs only once
NUM_PEOPLE = 3
SCENE_SEED = 0
MIN_SEPARATION_MM = 1000.0           # floor distance between people's spots
METRICS_OUT = "06_multi_person.metrics.json"
"""),
    code(SETUP + """
from partnas_lib.data.synth import scene_splits, scenes
from partnas_lib.eval.evaluate import predict_camera_mm, predict_coords
from partnas_lib.eval import analysis as eval_analysis
from partnas_lib.viz import images, skeleton3d

cfg = nb.make_config(PRESET)
"""),
    md("""
## 1. One camera, several people

`scenes.sample_setup` sets a scene up as the synthetic multi-person data does: one camera,
procedural people (body, action, heading) on spots of the floor a few metres in front of it and
apart from one another.  `scenes.render_frame` poses everyone and ray casts them *together*, so
the z-buffer puts a nearer person in front of a farther one; each person gets the 3DMPPE box
around their joints, and `joints_vis` marks joints hidden by someone in front.
"""),
    code("""
setup = scenes.sample_setup(np.random.default_rng(SCENE_SEED), num_people=NUM_PEOPLE,
                            min_separation_mm=MIN_SEPARATION_MM)
frame = scenes.render_frame(setup, SCENE_SEED, frame=0)
joints_cam = np.stack([p.joints_cam for p in frame.people])
labels = [f"{k}: {p.action}, {p.root_depth / 1000:.1f} m" for k, p in enumerate(frame.people)]
fig = images.scene_image_figure(frame.image, [p.bbox for p in frame.people], frame.size, labels)
"""),
    code("""
skeleton3d.scene_figure(joints_cam, frame.intrinsics, frame.size,
                        names=[f"person {k}" for k in range(len(frame.people))],
                        title="camera space: everyone where they really are")
""", ignore_output=True),
    md("""
## 2. Crops, then the single-person network

Each person's crop (the 3DMPPE box, cut out of the frame -- people in front included) is what
the network sees.  The network predicts, per
joint, an image position and a depth *relative to the root*; adding the root depth and
back-projecting with the camera gives camera-space millimetres.
"""),
    code("""
nb.ensure_trained(cfg, RUN_DIR)              # retrains only if notebook 05 has not
model, run_cfg = nb.load_model(RUN_DIR)
crops = scene_splits.frame_arrays(frame, run_cfg.data.image_size)
fig = images.image_grid(crops, range(len(crops)), ncols=len(crops), size=2.0)
pred = predict_camera_mm(model, crops, batch_size=16, device="cpu", flip_test=True)
"""),
    code("""
skeleton3d.scene_figure(joints_cam, predictions_mm=pred,
                        title="grey: ground truth; coloured: predictions placed with the true root depth")
""", ignore_output=True),
    md("""
## 3. Errors, root-relative and absolute

*Root-relative* errors align the pelvises first (what MPJPE measures); *absolute* errors do
not.  With the true root depth the two stay close -- they differ only through the root's
predicted image position.  Now perturb the root depth by 5 % (25 cm at 5 m, the order of a
real root-depth estimator's error) and watch the absolute error jump while the pose itself is
unchanged:
"""),
    code("""
coords = predict_coords(model, crops, batch_size=16, device="cpu", flip_test=True)
relative = eval_analysis.per_sample_errors(pred, crops.joints_3d)
absolute = eval_analysis.absolute_errors(pred, crops.joints_3d)
shifted = model.geometry.decode(coords, crops.bbox, crops.intrinsics, crops.root_depth * 1.05)
absolute_5pct = eval_analysis.absolute_errors(shifted, crops.joints_3d)
rows = {f"person {k}": {"root depth (m)": float(crops.root_depth[k] / 1000), "root-relative MPJPE": relative[k],
                       "absolute, true root": absolute[k], "absolute, root +5 %": absolute_5pct[k]}
        for k in range(len(crops))}
from partnas_lib.viz.results import dict_table_markdown
display(Markdown(dict_table_markdown(rows, "person") + "\\n\\n(errors in mm)"))
"""),
    md("""
## 4. The full multi-person pipeline

* **RootNet** (Moon et al. 2019, `partnas_lib/models/rootnet.py`): absolute root depth
  `Z = gamma * k` from the box area and a focal-length prior `k`, with `gamma` learned --
  `partnas rootnet train --preset cpu --out RUN_DIR`;
* **person boxes** from ground truth or a `bbox_root_*.json` file (3DMPPE's released detections);
* the **MuPoTS-3D scorer** (`partnas_lib/eval/mupots_scorer.py`, the official rules in Python):
  3DPCK at 150 mm, root-relative and absolute, all / matched people, AUC, per sequence;
* synthetic multi-person scenes rendered with one z-buffer, people occluding each other
  (`partnas_lib/data/synth/scenes.py`, the scenes of sections 1-3);
* all together: `partnas evaluate --out RUN_DIR --dataset synthetic-multi` (or `--dataset mupots
  --root MUPOTS_DIR`) writes `metrics_multi.json`.
"""),
    code("""
path = nb.write_metrics(METRICS_OUT, {
    "num_people": len(frame.people),
    "root_depth_mm": crops.root_depth,
    "root_relative_mpjpe": relative,
    "absolute_mpjpe_true_root": absolute,
    "absolute_mpjpe_root_plus_5pct": absolute_5pct,
    "min_separation_mm": eval_analysis.min_pairwise_distance(np.stack([p.ground_xy for p in setup.people])),
})
print("metrics written to", path)
"""),
    md("""
## What you saw

* several people in one camera space, their rendered image and their crops;
* the single-person network's root-relative poses turned into absolute camera-space poses;
* that the absolute error is dominated by the root depth -- the job of RootNet (section 4).
"""),
]

NOTEBOOKS = {
    "01_data.ipynb": NB01,
    "02_search_space.ipynb": NB02,
    "03_search.ipynb": NB03,
    "04_architectures.ipynb": NB04,
    "05_results.ipynb": NB05,
    "06_multi_person.ipynb": NB06,
}


def build(name: str, cells: list) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["partnas"] = {"accelerator": "cpu (any preset); paper preset wants a GPU"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:2]}-{i:02d}"
    nbformat.validate(nb)
    return nb


def main(argv: list[str]) -> None:
    wanted = [a for a in argv if a]
    for name, cells in NOTEBOOKS.items():
        if wanted and not any(name.startswith(w) for w in wanted):
            continue
        nbformat.write(build(name, cells), HERE / name)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main(sys.argv[1:])
