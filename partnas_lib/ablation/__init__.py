"""The paper's comparisons as one command (``partnas ablate``): is the *part-aware search* what helps?

Chen et al. (ECCV 2020) claim two things: searching one decoder per body part beats one decoder
for all joints, and the searched network beats the ResNet-50 + deconvolution baseline with far
fewer parameters (docs/method.md Sec. 1).  A NAS result also has to beat architectures it did not
choose.  ``partnas ablate`` trains, at **equal training budget** (same data, same retrain
epochs, optimiser and augmentation; only the network differs), for several seeds:

==================  ==============================================================================
``part_aware``      the method: one searched cell per part, 5 kinematic parts
``part_aware_pt``   the same search, genotype chosen by perturbation (DARTS-PT, Wang et al. 2021)
``shared``          one searched decoder for all 17 joints (``model.parts=1``): "previous methods"
``shared_matched``  the same, widened to the part-aware network's expected size (capacity control)
``random``          one cell per part drawn at random from the same space (no search)
``random_best``     the best of N random genotypes trained briefly at the search's compute,
                    chosen on the validation split (Li & Talwalkar 2019; Yang et al. 2020)
``baseline``        the 3DMPPE ResNet + 3 deconvolutions network scaled to the preset (no search)
==================  ==============================================================================

Each (variant, seed) is an ordinary run directory ``DIR/<variant>/seed<N>/`` produced by
:func:`partnas_lib.pipeline.reproduce` with ``resume=True``, so an interrupted ablation picks up
where it stopped (finished runs are not redone).  The results go to ``DIR/ablation.json``
(schema: :func:`validate_ablation`) and ``DIR/ablation.md``: per variant the mean and standard
deviation over seeds of MPJPE, PA-MPJPE, per-part MPJPE (always on the 5 kinematic parts, so
every variant is measured on the same joints), parameters, multiply-adds and wall times, plus
how much the genotypes of the searched variants agree across seeds
(:mod:`partnas_lib.nas.agreement`), and every variant compared with ``part_aware`` paired by
seed, with confidence intervals and Holm's adjustment (:mod:`partnas_lib.ablation.stats`).
"""
