"""Training checkpoints: atomic writes and safe reads (``weights_only``: tensors and
plain containers only, never code), and networks rebuilt from them."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_path
from .models import SastNetwork


def save_atomic(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` so that a crash never leaves a partial file; serialised in
    memory first, so that a failed write is the OS's error (a full disk is named as such,
    not as a torch serialisation error)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(buffer.getbuffer())


def training_state(config: dict[str, Any], model: SastNetwork, optimizer: Any, scheduler: Any,
                   history: list[dict], epoch_seconds: list[float], best: dict[str, Any],
                   generators: dict[str, torch.Generator], health: Any) -> dict[str, Any]:
    """What a run's ``checkpoint.pt`` holds after an epoch: its settings (``config``, as a
    dict), the net, optimiser and scheduler, the history, the best epoch, the random
    number states and the training health (``health``) so far."""
    return {"config": config, "model_config": model.config, "health": health,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "history": history, "epoch_seconds": epoch_seconds, "best": best,
            "torch_rng": torch.get_rng_state(),
            "generators": {k: g.get_state() for k, g in generators.items()}}


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_atomic` with ``weights_only=True``
    (a pickle payload is refused, not run); clear error for a missing or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, foreign or unsafe file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"checkpoint {path} cannot be read safely: {first}") from exc
    if not isinstance(state, dict) or "model_config" not in state:
        raise ValueError(f"{path} is not a lava_sast checkpoint (no model_config)")
    return state


def network_from_checkpoint(state: dict[str, Any], path: str | os.PathLike,
                            which: str = "best") -> SastNetwork:
    """Rebuild the :class:`SastNetwork` of a loaded checkpoint ``state`` (read from
    ``path``): the reported net (``which="best"``: the best validation epoch, with the
    surrogate slope of that epoch) or the last epoch's (``"last"``)."""
    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    best = state.get("best") or {}
    try:
        model = SastNetwork.from_config(state["model_config"])
        if which == "best" and "model" in best:
            model.load_state_dict(best["model"])
            model.set_beta(best.get("beta", model.neuron_params["beta"]))
        else:
            model.load_state_dict(state["model"])
    except Exception as exc:
        raise ValueError(f"{path}: the network in this checkpoint cannot be rebuilt "
                         f"({type(exc).__name__}: {exc})") from exc
    return model


def load_network(path: str | os.PathLike, which: str = "best") -> SastNetwork:
    """The trained network of a ``checkpoint.pt``: the one its report describes (``best``)
    or the last epoch's (``last``)."""
    return network_from_checkpoint(load_checkpoint(path), path, which)
