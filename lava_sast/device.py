"""``--device {auto,cpu,cuda,cuda:N}``: one place that turns the option into a torch device."""
from __future__ import annotations

import re

import torch

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


class DeviceError(ValueError):
    """A device that does not exist here; the message says which and why."""


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``; raises
    :class:`DeviceError` for a CUDA device this machine does not have."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if not match:
        raise DeviceError(f"--device {spec!r} is not one of {DEVICE_CHOICES}")
    if not torch.cuda.is_available():
        why = ("this torch build has no CUDA" if torch.version.cuda is None
               else "no CUDA GPU is visible")
        raise DeviceError(f"--device {spec}: CUDA is not available ({why}, torch "
                          f"{torch.__version__}); use --device cpu or auto")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise DeviceError(f"--device {spec}: this machine has {torch.cuda.device_count()} "
                          f"CUDA device(s) (cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    return torch.device("cuda", index)


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of ``module``'s parameters (CPU for a module without any)."""
    for p in module.parameters():
        return p.device
    return torch.device("cpu")
