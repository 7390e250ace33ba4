"""--device: CPU always; CUDA where this machine has it; a clear error where it does not."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from lava_sast.device import DeviceError, resolve_device

NO_CUDA = not torch.cuda.is_available()
cuda_only = pytest.mark.skipif(NO_CUDA, reason="no CUDA device on this machine")


def test_device_names_resolve():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cpu" if NO_CUDA else "cuda")
    with pytest.raises(DeviceError, match="'tpu' is not one of auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")
    with pytest.raises(DeviceError, match="cuda:99"):
        resolve_device("cuda:99")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
@pytest.mark.parametrize("command", [
    ["lava_sast.train", "--epochs", "1"],
    ["lava_sast.study", "--methods", "slayer", "--seeds", "0", "--epochs", "1"],
    ["lava_sast.evaluate", "missing.pt"],
    ["netx_export.run", "missing.net", "--engine", "emulator"],
])
def test_cuda_request_without_cuda_is_one_clear_line(tmp_path, command):
    out = tmp_path / "run"
    args = [sys.executable, "-m", *command, "--device", "cuda"]
    if command[0] in ("lava_sast.train", "lava_sast.study"):
        args += ["--out", str(out)]
    res = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --device cuda: CUDA is not available"), res.stderr
    assert "Traceback" not in res.stderr and not out.exists()


def test_evaluation_follows_the_model_device():
    """Everything evaluate creates lives where the model lives (CPU here; CUDA below)."""
    from lava_sast.datasets import load_dataset
    from lava_sast.evaluate import evaluate
    from lava_sast.arch import default_arch
    from lava_sast.models import SastNetwork
    data = load_dataset("digits", split="test", max_samples=20)
    torch.manual_seed(0)
    model = SastNetwork(default_arch("digits", data.spec.input_shape, 10), data.spec.input_shape)
    res = evaluate(model, data, "hard")
    assert res.samples == 20 and res.synops_per_sample > 0


@cuda_only
def test_cuda_training_and_emulator_match_cpu(tmp_path):
    from lava_sast.config import TrainConfig
    from lava_sast.datasets import load_dataset
    from netx_export.hardware_eval import train_and_deploy
    from netx_export.emulate import emulate_dataset
    from netx_export.netx_model import load_int_network
    report = train_and_deploy(TrainConfig(method="slayer", epochs=1, device="cuda", train_samples=200,
                               test_samples=100, out=str(tmp_path / "gpu")))
    assert report["int8_accuracy"] is not None
    net = load_int_network(tmp_path / "gpu" / "network_int8.net")
    data = load_dataset("digits", split="test", max_samples=100)
    cpu, labels = emulate_dataset(net, data, device="cpu")
    gpu, _ = emulate_dataset(net, data, device="cuda")
    assert torch.equal(cpu.output_counts, gpu.output_counts)
    assert torch.equal(cpu.synops, gpu.synops)
    assert abs(float((cpu.predictions == labels).float().mean()) - report["int8_accuracy"]) < 1e-9


@cuda_only
def test_cuda_surrogate_step_matches_cpu():
    from lava_sast.dynamics import surrogate_cuba
    torch.manual_seed(0)
    x = torch.randn(4, 16, 50, dtype=torch.float64)
    ku, kv = torch.tensor(0.75, dtype=torch.float64), torch.tensor(0.97, dtype=torch.float64)
    outs = []
    for dev in ("cpu", "cuda"):
        xd = x.to(dev).requires_grad_()
        s, _ = surrogate_cuba(xd, ku.to(dev), kv.to(dev), 1.25, 5.0)
        (g,) = torch.autograd.grad(s.sum(), xd)
        outs.append((s.cpu(), g.cpu()))
    assert torch.allclose(outs[0][0], outs[1][0]) and torch.allclose(outs[0][1], outs[1][1])
