"""Dataclass configs, the three named presets, and ``--set a.b=value`` overrides.

One config system serves the CLI, the notebooks and the tests.  A preset is a plain function
that returns a :class:`Config`; every field can be changed afterwards with
:func:`apply_overrides` (``["retrain.epochs=3", "model.parts=3"]``).  Fields the paper does not
pin down carry the note "project default; the paper's value is not published" (docs/method.md Sec. 2).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from partnas_lib.fields import coerce_text, from_dict, get_path
from partnas_lib.io import read_json, write_json
from partnas_lib.nas.ops import OPS
from partnas_lib.skeleton import get_grouping

#: PC-DARTS primitives (docs/method.md Sec. 2).  Each names a factory in :mod:`partnas_lib.nas.ops`.
DEFAULT_OPS: list[str] = [
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
]

#: Human3.6M protocols by name (``data.protocol``): the metric they report and the subjects they
#: test on.  Their subsets, frame steps and cameras: :mod:`partnas_lib.data.protocols`.
H36M_PROTOCOLS: tuple[str, ...] = ("mpjpe_s9_s11", "pa_mpjpe_s11")
#: ``model.normalize_input`` values: "auto" = on exactly when ``model.pretrained`` is set.
NORMALIZE_INPUT: dict[str, bool | None] = {"auto": None, "on": True, "true": True, "off": False, "false": False}

#: What retrain/evaluate build (``ModelConfig.kind``): the searched part-aware network, a random
#: architecture from the same space (one, or the best of several), or the 3DMPPE baseline.
MODEL_KINDS: tuple[str, ...] = ("searched", "random", "random_best", "baseline")
#: How the genotype is read out of the trained supernet (``SearchConfig.selection``).
SELECTIONS: tuple[str, ...] = ("magnitude", "perturbation")

#: The forms of ``DataConfig.pose_source`` (read by :func:`split_pose_source`).
POSE_SOURCE_FORMS = "'procedural', 'bvh:/path/to/folder' or 'mix:F:bvh:/path/to/folder' (0 < F < 1)"


def split_pose_source(spec: str) -> tuple[float, str | None]:
    """A ``DataConfig.pose_source`` as ``(share of poses from motion capture, BVH folder)``:
    ``"procedural"`` -> ``(0.0, None)``, ``"bvh:DIR"`` -> ``(1.0, "DIR")``,
    ``"mix:F:bvh:DIR"`` -> ``(F, "DIR")`` with ``0 < F < 1``; ``ValueError`` for anything else.
    The one reader of this grammar: the config check and the data layer both use it."""
    if spec == "procedural":
        return 0.0, None
    fraction, rest = 1.0, spec
    if spec.startswith("mix:"):
        text, _, rest = spec[4:].partition(":")
        try:
            fraction = float(text)
        except ValueError:
            fraction = float("nan")
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"pose source {spec!r}: expected {POSE_SOURCE_FORMS}")
    folder = rest[4:].strip() if rest.startswith("bvh:") else ""
    if not folder:
        raise ValueError(f"pose source {spec!r}: expected {POSE_SOURCE_FORMS}")
    return fraction, folder


def _is_pose_source(spec: str) -> bool:
    try:
        split_pose_source(spec)
    except ValueError:
        return False
    return True


@dataclass
class DataConfig:
    """Where samples come from and how many.

    ``dataset="synthetic"`` renders procedural people (:mod:`partnas_lib.data.synth.synthetic`);
    ``num_train`` samples are used for search (split in two, see ``SearchConfig.train_portion``)
    and for retraining; ``num_test`` held-out samples from a disjoint seed are evaluated.

    ``pose_source`` says where the rendered people's poses come from: ``"procedural"`` (the
    everyday actions of :mod:`partnas_lib.data.synth.actions`), ``"bvh:/path/to/folder"``, real
    motion capture read from a folder of BVH clips (:mod:`partnas_lib.data.mocap`; e.g. the Bandai
    Namco Research Motion Dataset, which you download yourself: ``data_scripts/fetch_mocap.py``).
    With BVH poses, train, val and test draw from disjoint sets of clips; ``"mix:F:bvh:..."``
    takes a share F of the poses from the clips and the rest from the procedural actions.

    ``dataset="h36m"`` reads Human3.6M (with images: the 3DMPPE layout) from ``root``;
    ``protocol`` names a protocol by what it computes (``"mpjpe_s9_s11"``, ``"pa_mpjpe_s11"``;
    :mod:`partnas_lib.data.protocols`, docs/method.md Sec. 3), ``""`` uses the subsets as given.
    There ``num_train``/``num_test`` cap a subset (0 = all; ``--set data.protocol=...`` sets the
    caps to 0), ``num_val`` training-subject samples are held out, and ``mpii_root`` mixes in MPII
    2D samples (depth loss masked), as 3DMPPE needs for its numbers.
    """

    dataset: str = "synthetic"
    image_size: int = 64
    num_train: int = 6000
    num_val: int = 500
    num_test: int = 1000
    supersample: int = 2
    seed: int = 0
    cache_dir: str = ""  # "" -> $PARTNAS_CACHE or ~/.cache/partnas
    pose_source: str = "procedural"  # "procedural" | "bvh:/path/to/folder" | "mix:F:bvh:/path/to/folder"
    root: str = ""  # dataset folder for dataset="h36m"
    layout: str = ""  # "" = detect; "3dmppe" | "videopose3d" | "cdf"
    train_subset: str = "train_s1_s5_s6_s7_s8_every5"
    test_subset: str = "test_s9_s11_every64"
    mpii_root: str = ""  # "" = no MPII 2D mixing
    protocol: str = ""  # "" = the subsets above | one of H36M_PROTOCOLS


@dataclass
class ModelConfig:
    """The shared trunk, the part heads and the volumetric read-out.

    The paper's trunk and head sizes are not published; the defaults follow docs/method.md Sec. 2
    (project defaults): ResNet-50 to ``layer3`` (stride 16) at the paper preset, part heads of
    ``head_cells`` searched cells, each doubling the resolution, ending at stride 4.

    ``kind`` selects which network retrain/evaluate build (the paper's comparisons):

    * ``"searched"``: the part-aware network derived from this run's search (the method);
    * ``"random"``: the same space, one cell per part drawn uniformly at random with the run's
      seed (:func:`partnas_lib.nas.genotype.random_cell`; the NAS sanity baseline) -- no search;
    * ``"random_best"``: the best on the validation split of ``search.random_candidates`` random
      genotypes trained briefly, at the search's compute (:mod:`partnas_lib.train.random_best`);
    * ``"baseline"``: the 3DMPPE PoseNet / Integral network the paper compares against (full
      ResNet trunk to ``layer4`` + 3 deconvolutions of ``deconv_channels`` + 1x1 conv;
      :mod:`partnas_lib.models.baseline`) -- no search; ``trunk_stage`` and the head fields
      are ignored, ``trunk_depth``/``trunk_width`` are shared with the part-aware network.

    ``deconv_channels`` is 256 at the paper preset (3DMPPE); the CPU presets scale it with the
    trunk width (256 x 0.25 = 64 at ``cpu``) so the baseline stays the same design at the same
    scale as the part-aware network it is compared with (32 at ``smoke``).

    ``pretrained``: a local ImageNet ResNet state dict (torchvision's or timm's key layout, e.g.
    ``resnet50.pth``) that initialises the trunk of every network trained (supernet, derived
    network, baseline, RootNet); ``""`` = random init.  Width 1 only
    (:mod:`partnas_lib.models.pretrained`).  ``normalize_input``: subtract the ImageNet mean and
    divide by its std at the start of the trunk (``"auto"`` = on exactly when ``pretrained`` is
    set, so a pretrained trunk sees the inputs it was trained on and the random-init presets stay
    bit-identical; ``"on"`` / ``"off"`` force it; project default, docs/method.md Sec. 2.3).
    """

    trunk_depth: int = 18
    trunk_width: float = 0.25
    trunk_stage: str = "layer3"
    head_channels: int = 16
    head_cells: int = 2
    depth_bins: int = 16
    cube_mm: float = 2000.0
    parts: Any = "5"  # "1" | "3" | "5" | "17" | {part_name: [joint indices]}
    kind: str = "searched"  # "searched" | "random" | "random_best" | "baseline"
    deconv_channels: int = 256  # baseline only (3DMPPE); scaled down in the CPU presets
    pretrained: str = ""  # ImageNet ResNet state dict (torchvision / timm keys); "" = random init
    normalize_input: str = "auto"  # ImageNet mean/std at the trunk's input: auto | on | off

    @property
    def normalizes_input(self) -> bool:
        """Whether the trunk normalises its input (``normalize_input``; "auto" follows ``pretrained``)."""
        forced = NORMALIZE_INPUT.get(self.normalize_input.lower())
        return bool(self.pretrained) if forced is None else forced


@dataclass
class SearchConfig:
    """Differentiable search (DARTS / PC-DARTS, first order; docs/method.md Sec. 2): weights and
    alpha/beta train on disjoint halves of the training data (bilevel).  alpha/beta use Adam(6e-4,
    betas (0.5, 0.999), wd 1e-3) as DARTS/PC-DARTS; the weight optimiser, epochs and warm-up are
    project defaults (not published).  ``cost_weight`` > 0 adds the expected multiply-adds of the
    derived heads to the architecture loss (beyond the paper; :mod:`partnas_lib.nas.cost`).
    ``selection``: the derive rule, argmax alpha or DARTS-PT's perturbation (``pt_*``: its cost;
    :mod:`partnas_lib.train.selection`).  ``random_candidates``: N of ``model.kind=random_best``."""

    epochs: int = 6
    warmup_epochs: int = 2
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    arch_lr: float = 6e-4
    arch_beta1: float = 0.5
    arch_beta2: float = 0.999
    arch_weight_decay: float = 1e-3
    partial_channels: int = 4  # K of PC-DARTS; 1 = plain DARTS
    edge_norm: bool = True  # beta of PC-DARTS; False = plain DARTS
    ops: list[str] = field(default_factory=lambda: list(DEFAULT_OPS))
    train_portion: float = 0.5
    edges_per_node: int = 2  # derive rule: keep top-k incoming edges; 0 = keep all
    grad_clip: float = 5.0
    cost_weight: float = 0.0  # lambda of the MACs penalty; 0 = the paper's accuracy-only search
    selection: str = "magnitude"  # derive rule: "magnitude" (argmax alpha, DARTS) | "perturbation" (DARTS-PT)
    pt_batches: int = 2  # perturbation: architecture-half batches averaged per loss measurement
    pt_tune_steps: int = 10  # perturbation: weight steps after each decision (0 = none)
    random_candidates: int = 4  # model.kind=random_best: random genotypes trained and compared


@dataclass
class RetrainConfig:
    """Training the derived network from scratch: the 3DMPPE recipe at the paper preset
    (Adam 1e-3, 25 epochs, x0.1 at epochs 17 and 21, batch 32)."""

    epochs: int = 12
    batch_size: int = 32
    lr: float = 1e-3
    lr_milestones: list[int] = field(default_factory=lambda: [8, 11])
    lr_factor: float = 0.1
    weight_decay: float = 0.0
    # 3DMPPE augmentations (partnas_lib.data.transforms); 0 switches one off
    flip_augment: bool = True
    scale_augment: float = 0.25
    rotation_augment: float = 30.0
    color_augment: float = 0.2
    occlusion_augment: float = 0.5  # probability of a pasted noise rectangle

    @property
    def augments(self) -> bool:
        return self.flip_augment or any(v > 0 for v in (self.scale_augment, self.rotation_augment,
                                                        self.color_augment, self.occlusion_augment))


@dataclass
class EvalConfig:
    flip_test: bool = True
    batch_size: int = 64


@dataclass
class TrainConfig:
    """How search and retrain run (not what they compute): checkpoints, many processes, GPU speed.

    * ``checkpoint_every``: besides the checkpoint at the end of every epoch, one every this
      many optimiser steps (0 = epoch ends only), so ``--resume`` continues a killed run
      mid-epoch and ends exactly where the uninterrupted run would have.
    * ``sync_bn``: under ``torchrun`` with several processes, BatchNorm statistics are taken
      over the global batch (SyncBatchNorm on GPU, an all-reduce on CPU): N processes train
      what one process with the same global batch trains.  No effect in a single process.
    * ``amp``: bf16 autocast for training and inference (CUDA only; ignored with a log line on
      CPU).  ``channels_last``: NHWC memory format for the convolutions of the networks that
      retrain and evaluate train (on by default: 1.3-2x faster oneDNN kernels on a CPU, tensor
      cores on a GPU); the supernet stays NCHW on a CPU, where its channel shuffles make NHWC
      slower (:func:`partnas_lib.train.device.resolve_precision`).
    * ``min_free_mb``: free disk space the run directory needs before any work starts.
    """

    checkpoint_every: int = 1000
    sync_bn: bool = True
    amp: bool = False
    channels_last: bool = True
    min_free_mb: int = 50


@dataclass
class Config:
    preset: str = "cpu"
    seed: int = 0
    device: str = "auto"  # auto = CUDA if present, else CPU
    progress: bool = True
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> "Config":
        return from_dict(cls, data, where)

    @classmethod
    def load(cls, path: str | Path) -> "Config":
        path = Path(path)
        cfg = cls.from_dict(read_json(path, "config file"), where=str(path))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first out-of-range field."""
        # Long because it is one table of (field, rule, what is expected), one row per field.
        h36m = self.data.dataset == "h36m"
        checks: list[tuple[str, bool, str]] = [
            ("data.protocol", self.data.protocol in ("", *H36M_PROTOCOLS),
             f"'' or one of {', '.join(H36M_PROTOCOLS)} (named by what they compute: 'Protocol 1' is PA-MPJPE on "
             "S11 in 3DMPPE but MPJPE on S9, S11 in VideoPose3D; docs/method.md Sec. 3)"),
            ("data.protocol", not self.data.protocol or h36m, "'' unless data.dataset=h36m (a Human3.6M protocol)"),
            ("data.image_size", self.data.image_size >= 32 and self.data.image_size % 32 == 0,
             "a multiple of 32, at least 32"),
            ("data.num_train", self.data.num_train >= 4 or (h36m and self.data.num_train == 0),
             "at least 4 (or 0 = all, Human3.6M only)"),
            ("data.num_test", self.data.num_test >= 1 or (h36m and self.data.num_test == 0),
             "at least 1 (or 0 = all, Human3.6M only)"),
            ("data.dataset", self.data.dataset in ("synthetic", "h36m"), "'synthetic' or 'h36m'"),
            ("data.root", self.data.dataset != "h36m" or bool(self.data.root),
             "the Human3.6M folder when data.dataset=h36m"),
            ("data.pose_source", _is_pose_source(self.data.pose_source), POSE_SOURCE_FORMS),
            ("model.trunk_depth", self.model.trunk_depth in (18, 34, 50), "one of 18, 34, 50"),
            ("model.trunk_stage", self.model.trunk_stage in ("layer1", "layer2", "layer3", "layer4"),
             "one of layer1..layer4"),
            ("model.kind", self.model.kind in MODEL_KINDS, f"one of {', '.join(MODEL_KINDS)}"),
            ("model.normalize_input", self.model.normalize_input.lower() in NORMALIZE_INPUT, "one of auto, on, off"),
            ("model.trunk_width", not self.model.pretrained or self.model.trunk_width == 1.0,
             "1 with model.pretrained (ImageNet weights exist at width 1 only)"),
            ("search.partial_channels", self.search.partial_channels >= 1
             and self.model.head_channels % self.search.partial_channels == 0,
             "a divisor of model.head_channels"),
            ("search.train_portion", 0 < self.search.train_portion < 1, "strictly between 0 and 1"),
            ("search.edges_per_node", self.search.edges_per_node >= 0, ">= 0 (0 keeps all edges)"),
            ("search.cost_weight", self.search.cost_weight >= 0, ">= 0 (0 = no cost penalty)"),
            ("search.selection", self.search.selection in SELECTIONS, f"one of {', '.join(SELECTIONS)}"),
            ("data.num_val", self.data.num_val >= 1 or self.model.kind != "random_best",
             "at least 1 with model.kind=random_best (its candidates are compared on the validation split)"),
            ("train.checkpoint_every", self.train.checkpoint_every >= 0, ">= 0 (0 = only at the end of each epoch)"),
        ]
        positive = ("model.trunk_width", "model.cube_mm", "search.lr", "retrain.lr")  # rule: > 0
        at_least = {"data.num_val": 0, "data.supersample": 1, "model.head_channels": 1, "model.head_cells": 1,
                    "model.depth_bins": 2, "model.deconv_channels": 1, "search.epochs": 0, "search.warmup_epochs": 0,
                    "search.batch_size": 1, "search.arch_lr": 0, "search.pt_batches": 1, "search.pt_tune_steps": 0,
                    "search.random_candidates": 1, "retrain.epochs": 0, "retrain.batch_size": 1,
                    "eval.batch_size": 1, "train.min_free_mb": 0}
        checks += [(name, get_path(self, name) > 0, "> 0") for name in positive]
        checks += [(name, get_path(self, name) >= low, f">= {low}") for name, low in at_least.items()]
        for name, ok, expected in checks:
            if not ok:
                value = get_path(self, name)
                raise ValueError(f"config field {name} = {value!r} is out of range; expected {expected}")
        unknown = [op for op in self.search.ops if op not in OPS]
        if unknown:
            raise ValueError(f"config field search.ops: unknown op(s) {unknown}; known ops are {sorted(OPS)}")
        if len([op for op in self.search.ops if op != "none"]) < 1:
            raise ValueError("config field search.ops: needs at least one op other than 'none'")
        try:
            get_grouping(self.model.parts)
        except ValueError as e:
            raise ValueError(f"config field model.parts: {e}") from None


# --------------------------------------------------------------------------------------------
# presets


def smoke_preset() -> Config:
    """Seconds on a laptop CPU; exercises every code path (tests, notebooks in CI)."""
    return Config(
        preset="smoke",
        data=DataConfig(image_size=64, num_train=1024, num_val=64, num_test=128, supersample=1),
        model=ModelConfig(trunk_depth=18, trunk_width=0.25, head_channels=8, depth_bins=8, deconv_channels=32),
        search=SearchConfig(epochs=2, warmup_epochs=1, batch_size=32, lr=2e-3, pt_tune_steps=2),
        retrain=RetrainConfig(epochs=6, batch_size=32, lr=3e-3, lr_milestones=[5], scale_augment=0.0,
                              rotation_augment=0.0, color_augment=0.0, occlusion_augment=0.0),
    )


def cpu_preset() -> Config:
    """A real search + retrain on a 2-core CPU in about 10 minutes (the default preset).

    The search is ~400 architecture steps instead of the ~20k of a DARTS run, so alpha/beta
    learn with ``arch_lr=3e-3`` (5x the DARTS value; project default) to move visibly.
    """
    # Synthetic renders already vary scale, view, clothing and light, and the cpu budget is a
    # dozen epochs: only flip and colour augmentation here (project default); the full 3DMPPE
    # set (scale, rotation, occlusion) is for real data at the paper preset.
    return Config(preset="cpu", model=ModelConfig(deconv_channels=64), search=SearchConfig(arch_lr=3e-3),
                  retrain=RetrainConfig(scale_augment=0.0, rotation_augment=0.0, occlusion_augment=0.0))


def paper_preset() -> Config:
    """The paper's scale (GPU): 256x256 crops, ResNet-50 to layer3, 64^3 volumes, 3DMPPE recipe.

    ``head_channels=96`` (project default; the paper's value is not published) is set by the
    paper's efficiency claims against the 3DMPPE ResNet-50 + deconvolution baseline (34.3 M
    parameters, 8.4 G multiply-adds): at 96 every cell of the space keeps at most 0.34x the
    baseline's parameters and typical cells need slightly fewer multiply-adds, as the IJCV
    version reports; at 128 the heaviest cells break the "62 % fewer parameters" bound
    (measured with :mod:`partnas_lib.models.summary`; the table is in docs/method.md Sec. 2).
    """
    return Config(
        preset="paper",
        data=DataConfig(image_size=256, num_train=100_000, num_val=2000, num_test=5000),
        model=ModelConfig(trunk_depth=50, trunk_width=1.0, trunk_stage="layer3",
                          head_channels=96, head_cells=2, depth_bins=64, deconv_channels=256),
        search=SearchConfig(epochs=20, warmup_epochs=5, batch_size=32, pt_batches=8, pt_tune_steps=150),
        retrain=RetrainConfig(epochs=25, batch_size=32, lr=1e-3, lr_milestones=[17, 21]),
    )


PRESETS = {"smoke": smoke_preset, "cpu": cpu_preset, "paper": paper_preset}


def get_preset(name: str) -> Config:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]()


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply ``["section.field=value", ...]`` to ``cfg`` (in place) and validate the result.

    Setting ``data.protocol`` also sets ``data.num_train``, ``num_val`` and ``num_test`` to 0
    (all frames, nothing held out), except those set in the same list."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected the form section.field=value")
        name, value = item.split("=", 1)
        name = name.strip()
        parts = name.split(".")
        obj: Any = cfg
        for p in parts[:-1]:
            if not dataclasses.is_dataclass(obj) or not hasattr(obj, p):
                raise ValueError(f"--set {name}: unknown config section {p!r}")
            obj = getattr(obj, p)
        fields = {f.name: f for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else {}
        leaf = parts[-1]
        if leaf not in fields or dataclasses.is_dataclass(getattr(obj, leaf)):
            known = ", ".join(sorted(fields))
            raise ValueError(f"--set {name}: unknown config field {leaf!r}; known fields here: {known}")
        hints = typing.get_type_hints(type(obj))
        setattr(obj, leaf, coerce_text(value, hints[leaf], name))
    names = {item.split("=", 1)[0].strip() for item in overrides}
    if "data.protocol" in names and cfg.data.protocol:  # a protocol uses every frame unless capped here
        for cap in ("num_train", "num_val", "num_test"):
            if f"data.{cap}" not in names:
                setattr(cfg.data, cap, 0)
    cfg.validate()
    return cfg
