"""Human3.6M evaluation protocols by name, and which subsets a config trains and tests on.

The literature evaluates Human3.6M under two protocols, and numbers them differently
(docs/method.md Sec. 3): 3DMPPE and Integral regression, which the paper follows, call
PA-MPJPE on S11 "Protocol 1" and MPJPE on S9, S11 "Protocol 2"; VideoPose3D and mmpose call
MPJPE "Protocol #1".  partnas therefore names a protocol by the metric it reports and the
subjects it tests on (``data.protocol``, :data:`~partnas_lib.config.H36M_PROTOCOLS`):

* ``mpjpe_s9_s11``: train S1, S5, S6, S7, S8 every 5th frame, test S9, S11 every 64th frame,
  report ``mpjpe``.  3DMPPE's "Protocol 2", VideoPose3D's "Protocol #1".
* ``pa_mpjpe_s11``: train S1, S5, S6, S7, S8, S9 every 5th frame, test S11 every 64th frame,
  report ``pa_mpjpe``.  3DMPPE's "Protocol 1".

All four cameras, the corrupt video ``s_11_act_02_subact_02_ca_01`` skipped (the subsets of
:data:`~partnas_lib.data.datasets.h36m_facts.H36M_SPLITS`).  Both metrics are always computed;
the protocol says which one the literature reports for its split.  VideoPose3D's "Protocol #2"
(PA-MPJPE on S9, S11) is the first split read with ``pa_mpjpe``, not the second protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

from partnas_lib.config import H36M_PROTOCOLS, DataConfig


@dataclass(frozen=True)
class H36MProtocol:
    """One protocol: the subsets it trains and tests on, the metric it reports, its other names."""

    name: str
    train_subset: str
    test_subset: str
    metric: str  # "mpjpe" | "pa_mpjpe"
    also_called: str


PROTOCOLS: dict[str, H36MProtocol] = {
    "mpjpe_s9_s11": H36MProtocol(
        "mpjpe_s9_s11", "train_s1_s5_s6_s7_s8_every5", "test_s9_s11_every64", "mpjpe",
        '3DMPPE / Integral regression "Protocol 2"; VideoPose3D / mmpose "Protocol #1"'),
    "pa_mpjpe_s11": H36MProtocol(
        "pa_mpjpe_s11", "train_s1_s5_s6_s7_s8_s9_every5", "test_s11_every64", "pa_mpjpe",
        '3DMPPE / Integral regression "Protocol 1" (not VideoPose3D\'s "Protocol #2", which tests on S9, S11)'),
}
if set(PROTOCOLS) != set(H36M_PROTOCOLS):  # the config validates names; this table defines them
    raise ImportError(f"partnas_lib.data.protocols defines {sorted(PROTOCOLS)}, config.H36M_PROTOCOLS "
                      f"names {sorted(H36M_PROTOCOLS)}")


def h36m_subsets(d: DataConfig) -> tuple[str, str]:
    """``(train subset, test subset)`` a Human3.6M config uses: its protocol's, or else
    ``data.train_subset`` / ``data.test_subset``.  A protocol together with other subsets is an
    error naming the fields (which one should win is not ours to guess)."""
    if not d.protocol:
        return d.train_subset, d.test_subset
    p = PROTOCOLS[d.protocol]
    defaults = DataConfig()
    for name, value, default, wanted in (("train_subset", d.train_subset, defaults.train_subset, p.train_subset),
                                         ("test_subset", d.test_subset, defaults.test_subset, p.test_subset)):
        if value not in (default, wanted):
            raise ValueError(f"config field data.{name} = {value!r} contradicts data.protocol = {d.protocol!r}, "
                             f"which trains on {p.train_subset} and tests on {p.test_subset}; leave "
                             f"data.{name} at its default or set data.protocol=''")
    return p.train_subset, p.test_subset


__all__ = ["H36MProtocol", "PROTOCOLS", "h36m_subsets"]
