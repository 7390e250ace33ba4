"""Pooling as Loihi runs it: not as a layer (lava-dl 0.6's NetX has none) but folded into
the weight layer that reads the pooled map.  Sum and average pooling are fixed linear maps
of the spikes, so the folded layer computes exactly what pool-then-layer computes
(``docs/design.md``).  Used by the NIR import (:mod:`lava_sast.nir_graph`) and by nets
with a trainable ``pool`` layer at export (:meth:`lava_sast.models.SastNetwork.folded`).

A pool is ``{"name", "kernel": [kh, kw], "stride": [sh, sw], "scale", "in_shape": (C, H,
W), "shape": (C, H', W')}``; a weight layer ``{"kind": "dense"|"conv", "weight", "stride",
"padding", "dilation", "groups", "source"}`` with numpy weights.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def fold_pool(pool: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """The weight layer ``layer`` that reads the pooled map, rewritten to read the map
    before pooling: exact, since pooling is a fixed linear map of the spikes.  A dense
    layer's columns spread over each window; a convolution becomes one with a kernel of
    ``(K - 1) s + k``, stride ``c s`` and padding ``p s``."""
    (kh, kw), (sh, sw), scale = pool["kernel"], pool["stride"], pool["scale"]
    c, h, w = pool["in_shape"]
    _, ph, pw = pool["shape"]
    wt = layer["weight"]
    if layer["kind"] == "dense":
        wt = wt.reshape(wt.shape[0], c, ph, pw)
        folded = np.zeros((wt.shape[0], c, h, w))
        for m in range(kh):
            for n in range(kw):
                folded[:, :, m:m + sh * ph:sh, n:n + sw * pw:sw] += scale * wt
        return {**layer, "weight": folded.reshape(wt.shape[0], -1)}
    if layer["dilation"] != [1, 1] or layer["groups"] != 1:
        raise ValueError(f"node {layer['source']!r}: a pooled input to a dilated or grouped "
                       f"convolution cannot be folded")
    if (h - kh) % sh or (w - kw) % sw:
        raise ValueError(f"node {pool['name']!r}: pooling drops the last rows or columns of its "
                       f"{pool['in_shape']} input, so it cannot be folded into the "
                       f"convolution {layer['source']!r} exactly")
    o, i, fh, fw = wt.shape
    folded = np.zeros((o, i, (fh - 1) * sh + kh, (fw - 1) * sw + kw))
    for u in range(fh):
        for v in range(fw):
            folded[:, :, u * sh:u * sh + kh, v * sw:v * sw + kw] += scale * wt[:, :, u:u + 1,
                                                                              v:v + 1]
    return {**layer, "weight": folded,
            "stride": [layer["stride"][0] * sh, layer["stride"][1] * sw],
            "padding": [layer["padding"][0] * sh, layer["padding"][1] * sw]}


