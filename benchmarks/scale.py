"""Scale: training-set size, the binned-data cache, step cost at long time windows, the
emulator against a bare matmul, and studies on 1 and 2 Ray workers; all in one run.

``python benchmarks/scale.py [--sizes 1000 10000 20000 60000] [--sections ...] [--quick]``

1. **Data size.**  N-MNIST folders of 1k-60k training files (symlinks cycling through the
   real subset in ``../shared/data/nmnist-small``); for each, two fresh processes: the
   first bins into an empty cache (worker processes), the second reads the cache.  Each
   trains one epoch of ``slayer`` and reports load time, epoch time and its peak RSS.
2. **Step cost**, CPU, batch 32, 2312-256-10: lava-dl's own ``slayer.block.cuba.Dense``
   net, our ``slayer`` method, the surrogate forward (``surrogate``/``sast`` step without
   SAM) and the same with autograd through its time loop (as before the hand-written
   backward), interleaved, median of repeats, at T=30 and T=300.
3. **Emulator** samples/s on the N-MNIST test split against a bare float forward of the
   same weights (one matmul per layer over all time steps, a threshold in between).
4. **Study wall time** of the same small study with ``--workers 1`` and ``--workers 2``.

Prints tables; writes ``benchmarks/results/scale.json``.  Timings are ratios measured side
by side here; absolute seconds depend on the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NMNIST = ROOT.parent / "shared" / "data" / "nmnist-small"
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"
QUICK_RESULTS = RESULTS.with_name("scale_quick.json")  # --quick never overwrites RESULTS
SECTIONS = ["data", "steps", "emulator", "study"]


def link_folder(dst: Path, n_train: int, source: Path = NMNIST) -> Path:
    """``dst/Train/<digit>/*.bin``: ``n_train`` links cycling through the training files of
    the N-MNIST folder ``source``; ``dst/Test``: links to its test files."""
    train = sorted(source.glob("Train/*/*.bin"))
    for i in range(n_train):
        src = train[i % len(train)]
        folder = dst / "Train" / src.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:05d}_{src.name}").symlink_to(src.resolve())
    for src in sorted(source.glob("Test/*/*.bin")):
        folder = dst / "Test" / src.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / src.name).symlink_to(src.resolve())
    return dst


def child(data_dir: str, cache_dir: str, out: str) -> None:
    """One process: load (bin or read the cache), then train one epoch of ``slayer``."""
    import lava_sast  # noqa: F401
    from lava_sast.config import TrainConfig
    from lava_sast.datasets import load_dataset
    from netx_export.hardware_eval import train_and_deploy

    start = time.perf_counter()
    data = load_dataset("nmnist", data_dir, "train", cache_dir=cache_dir)
    load_dataset("nmnist", data_dir, "test", cache_dir=cache_dir)
    load_s = time.perf_counter() - start
    report = train_and_deploy(TrainConfig(dataset="nmnist", data_dir=data_dir, method="slayer", epochs=1,
                               hardware_eval=False, cache_dir=cache_dir, device="cpu",
                               out=out))
    print(json.dumps({"samples": len(data), "load_s": load_s,
                      "epoch_s": report["seconds_per_epoch"], "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's own peak resident memory (``VmHWM``; ``ru_maxrss`` would include
    the forking parent's peak, which Linux carries over ``exec``)."""
    with open("/proc/self/status") as f:
        line = next(l for l in f if l.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def run_child(data_dir: Path, cache: Path, out: Path) -> dict:
    """:func:`child` in a fresh process; its JSON line as a dict."""
    res = subprocess.run([sys.executable, __file__, "--child", str(data_dir), str(cache),
                          str(out)], capture_output=True, text=True, cwd=ROOT)
    if res.returncode:
        raise RuntimeError(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def data_scaling(sizes: list[int]) -> list[dict]:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            data = link_folder(tmp / "nmnist", n)
            first = run_child(data, tmp / "cache", tmp / "run1")
            second = run_child(data, tmp / "cache", tmp / "run2")
        rows.append({"train_files": n, "bin_s": first["load_s"], "cached_load_s": second["load_s"],
                     "cache_speedup": first["load_s"] / second["load_s"],
                     "epoch_s": second["epoch_s"], "peak_rss_mb_binning": first["peak_rss_mb"],
                     "peak_rss_mb": second["peak_rss_mb"]})
        print(f"  {n} files: {rows[-1]}", flush=True)
    return rows


def step_costs(steps_list: list[int], repeats: int) -> list[dict]:
    import torch
    import lava_sast  # noqa: F401
    from lava.lib.dl import slayer
    from lava_sast import dynamics, neuron
    from lava_sast.models import SastNetwork

    class LavaDlNet(torch.nn.Module):
        """lava-dl's own blocks, as its N-MNIST tutorial builds them (no delays here)."""

        def __init__(self) -> None:
            super().__init__()
            p = {"threshold": 1.25, "current_decay": 0.25, "voltage_decay": 0.03,
                 "tau_grad": 0.03, "scale_grad": 3, "requires_grad": False}
            self.blocks = torch.nn.ModuleList([
                slayer.block.cuba.Dense(p, 2312, 256, weight_norm=False, delay_shift=False),
                slayer.block.cuba.Dense(p, 256, 10, weight_norm=False, delay_shift=False)])

        def forward(self, x):
            x = x.reshape(x.shape[0], -1, x.shape[-1])
            for b in self.blocks:
                x = b(x)
            return x

    def ours(mode: str) -> torch.nn.Module:
        net = SastNetwork([{"type": "dense", "out": 256}, {"type": "dense", "out": 10}],
                          (2, 34, 34), neuron={"threshold": 1.25}, beta=1.0,
                          weight_hook="slayer8" if mode == "hard" else "clamp")
        net.set_spike_mode(mode)
        return net

    rows = []
    for steps in steps_list:
        torch.manual_seed(0)
        x = (torch.rand(32, 2, 34, 34, steps) < 0.02).float()
        y = torch.randint(0, 10, (32,))
        loss_fx = slayer.loss.SpikeRate(true_rate=0.2, false_rate=0.03, reduction="mean")
        nets = {"lava-dl cuba.Dense": LavaDlNet(), "slayer (ours)": ours("hard"),
                "surrogate forward": ours("surrogate"),
                "surrogate, autograd loop": ours("surrogate")}
        opts = {k: torch.optim.Adam(m.parameters(), 1e-3) for k, m in nets.items()}
        times: dict[str, list[float]] = {k: [] for k in nets}
        for r in range(repeats + 1):
            for k, m in nets.items():
                # the autograd loop: the surrogate dynamics as they were before the
                # hand-written backward (lava_sast.dynamics.surrogate_cuba_reference)
                neuron.surrogate_cuba = (dynamics.surrogate_cuba_reference
                                         if k == "surrogate, autograd loop"
                                         else dynamics.surrogate_cuba)
                start = time.perf_counter()
                opts[k].zero_grad()
                loss_fx(m(x), y).backward()
                opts[k].step()
                if r:  # the first round warms up
                    times[k].append(time.perf_counter() - start)
        neuron.surrogate_cuba = dynamics.surrogate_cuba
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append({"steps": steps, **{f"{k} ms": 1000 * v for k, v in med.items()},
                     "surrogate / lava-dl": med["surrogate forward"] / med["lava-dl cuba.Dense"],
                     "surrogate / slayer (ours)": med["surrogate forward"] / med["slayer (ours)"],
                     "autograd loop / lava-dl": (med["surrogate, autograd loop"]
                                                 / med["lava-dl cuba.Dense"])})
        print(f"  T={steps}: {rows[-1]}", flush=True)
    return rows


def emulator_vs_matmul(repeats: int) -> dict:
    import torch
    import lava_sast  # noqa: F401
    from lava_sast.datasets import load_dataset
    from lava_sast.models import SastNetwork
    from netx_export.emulate import emulate
    from netx_export.export import export_network
    from netx_export.netx_model import load_int_network

    torch.manual_seed(0)
    model = SastNetwork([{"type": "dense", "out": 256}, {"type": "dense", "out": 10}],
                        (2, 34, 34), neuron={"threshold": 1.25}, weight_hook="slayer8")
    with tempfile.TemporaryDirectory() as tmp:
        export_network(model, f"{tmp}/n.net", weight_bits=8)
        net = load_int_network(f"{tmp}/n.net")
    x = load_dataset("nmnist", NMNIST, "test").spikes.float()
    w = [torch.as_tensor(layer.weight, dtype=torch.float32) for layer in net.layers]

    flat = x.reshape(x.shape[0], -1, x.shape[-1])

    def per_step() -> None:  # a stateless float net stepped through time, as the emulator is
        counts = 0
        for t in range(flat.shape[-1]):
            counts = counts + ((flat[..., t] @ w[0].T > 0).float() @ w[1].T)
        counts.argmax(1)

    def all_steps() -> None:  # every step in one matmul per layer (no time loop at all)
        hidden = (flat.permute(0, 2, 1) @ w[0].T > 0).float()
        (hidden @ w[1].T).sum(1).argmax(1)

    fns = {"emulator": lambda: emulate(net, x), "float per step": per_step,
           "float all steps": all_steps}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(repeats + 1):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            if r:
                times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    row = {"samples": len(x), "steps": x.shape[-1],
           **{f"{k} samples/s": len(x) / v for k, v in med.items()},
           "emulator / float per step": med["emulator"] / med["float per step"],
           "emulator / float all steps": med["emulator"] / med["float all steps"]}
    print(f"  {row}", flush=True)
    return row


def study_wall(workers_list: list[int], epochs: int) -> list[dict]:
    rows = []
    for workers in workers_list:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "lava_sast.study", "--dataset", "nmnist", "--data-dir",
                   str(NMNIST), "--methods", "slayer", "slayer-sam", "--seeds", "0", "1",
                   "--epochs", str(epochs), "--no-hardware-eval", "--device", "cpu",
                   "--cache-dir", f"{tmp}/cache", "--out", f"{tmp}/study",
                   "--workers", str(workers)]
            # the cache is built before timing, so both measure training alone
            subprocess.run([sys.executable, "-c", "import lava_sast.datasets as d; "
                            f"[d.load_dataset('nmnist', '{NMNIST}', s, cache_dir='{tmp}/cache')"
                            " for s in ('train', 'test')]"], check=True, cwd=ROOT,
                           capture_output=True)
            start = time.perf_counter()
            res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            wall = time.perf_counter() - start
            if res.returncode:
                raise RuntimeError(res.stderr[-2000:])
            summary = json.loads(Path(f"{tmp}/study/summary.json").read_text())["summary"]
        rows.append({"workers": workers, "runs": 4, "epochs": epochs, "wall_s": wall,
                     "hard_accuracy": {k: v["hard_accuracy"]["values"]
                                       for k, v in summary.items()}})
        print(f"  workers {workers}: {wall:.1f} s", flush=True)
    rows[-1]["speedup_vs_1"] = rows[0]["wall_s"] / rows[-1]["wall_s"]
    rows[-1]["same_numbers"] = rows[-1]["hard_accuracy"] == rows[0]["hard_accuracy"]
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 20000, 60000])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--study-epochs", type=int, default=10)
    p.add_argument("--sections", nargs="+", default=SECTIONS, choices=SECTIONS,
                   help="measure only these; the others keep their numbers in scale.json")
    p.add_argument("--quick", action="store_true",
                   help="sizes 1000 2000, 2 repeats; writes scale_quick.json instead")
    p.add_argument("--child", nargs=3, metavar=("DATA", "CACHE", "OUT"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(*a.child)
        return
    if not NMNIST.is_dir():
        sys.exit(f"error: the N-MNIST subset is not at {NMNIST}")
    results = RESULTS
    if a.quick:
        a.sizes, a.repeats, a.study_epochs = [1000, 2000], 2, 2
        results = QUICK_RESULTS
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count()))
    result = json.loads(results.read_text()) if results.exists() else {}
    result["cpus"] = os.cpu_count()
    if "data" in a.sections:
        print("1. training-set size (one epoch of slayer; two fresh processes each)")
        result["data"] = data_scaling(a.sizes)
    if "steps" in a.sections:
        print("2. training step, CPU, batch 32, 2312-256-10")
        result["steps"] = step_costs([30, 300], a.repeats)
    if "emulator" in a.sections:
        print("3. emulator vs a bare float forward")
        result["emulator"] = emulator_vs_matmul(a.repeats)
    if "study" in a.sections:
        print("4. study wall time")
        result["study"] = study_wall([1, 2], a.study_epochs)
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps(result, indent=2))
    print(to_markdown(result))
    print(f"wrote {results}")


def to_markdown(r: dict) -> str:
    """The README's tables from a ``scale.json``."""
    lines = ["| train files | first binning (s) | cached load (s) | cache speed-up | "
             "epoch (s) | peak RSS (MB) |", "|---|---|---|---|---|---|"]
    for d in r["data"]:
        lines.append(f"| {d['train_files']:,} | {d['bin_s']:.1f} | {d['cached_load_s']:.2f} | "
                     f"{d['cache_speedup']:.0f}x | {d['epoch_s']:.1f} | {d['peak_rss_mb']:.0f} |")
    lines += ["", "| T | lava-dl cuba.Dense step (ms) | slayer (ours) (ms) | surrogate forward "
              "(ms) | surrogate / lava-dl | autograd loop / lava-dl |", "|---|---|---|---|---|---|"]
    for s in r["steps"]:
        before = s.get("autograd loop / lava-dl")
        lines.append(f"| {s['steps']} | {s['lava-dl cuba.Dense ms']:.0f} | "
                     f"{s['slayer (ours) ms']:.0f} | {s['surrogate forward ms']:.0f} | "
                     f"{s['surrogate / lava-dl']:.2f}x | "
                     f"{'–' if before is None else f'{before:.2f}x'} |")
    e = r["emulator"]
    lines += ["", f"Emulator: {e['emulator samples/s']:.0f} samples/s, "
              f"{e['emulator / float per step']:.2f}x the time of a bare float forward of the "
              f"same weights stepped through time ({e['float per step samples/s']:.0f} "
              f"samples/s) and {e['emulator / float all steps']:.2f}x that of one with all "
              f"steps in one matmul ({e['float all steps samples/s']:.0f} samples/s)."]
    s1, s2 = r["study"][0], r["study"][-1]
    lines.append(f"Study of {s1['runs']} runs: {s1['wall_s']:.0f} s with 1 worker, "
                 f"{s2['wall_s']:.0f} s with {s2['workers']} Ray workers "
                 f"({s2['speedup_vs_1']:.2f}x; same numbers: {s2['same_numbers']}).")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
