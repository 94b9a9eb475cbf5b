"""Delay terms (model.md, Delays), in ms. Pure; scalars or arrays."""

from __future__ import annotations

import numpy as np

from placement.model.cost import volume_mb


def transfer_ms(size_mb, bandwidth_mbps):
    """Time to push `size_mb` through `bandwidth_mbps`: migrations and programming."""
    return np.asarray(size_mb) * 8.0 / bandwidth_mbps * 1000.0


def em_ms_per_mb(lm_ms_per_mb, rdma_accesses, rdma_ms):
    """Per-MB delay of a VNF in external memory: the LM pipeline plus n_v RDMA reads."""
    return lm_ms_per_mb + np.asarray(rdma_accesses) * rdma_ms


def processing_ms(rate_mbps, ms_per_mb):
    """Processing delay: traffic volume times the host's per-MB delay (summed over VNFs)."""
    return volume_mb(rate_mbps) * ms_per_mb


def transmission_ms(rate_mbps, tx_ms_per_mb, prop_ms):
    """Per-MB transmission over the path's links plus their propagation delays."""
    return volume_mb(rate_mbps) * tx_ms_per_mb + prop_ms


def request_delay(reconfiguration_ms, processing, transmission):
    return reconfiguration_ms + processing + transmission
