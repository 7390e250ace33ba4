"""Training methods, the validation split, exact resume, the study and shared options."""
import json

import pytest
import torch

from lava_sast.config import TrainConfig, resolved
from lava_sast.presets import load_preset

TUNED = load_preset("dense-nmnist")["methods"]  # the preset dense nets' defaults load
from lava_sast.datasets import load_dataset
from lava_sast.methods import get_method
from lava_sast.sam import SAM
from lava_sast.trainer import build_model, load_splits
from netx_export.hardware_eval import train_and_deploy

SMALL = dict(train_samples=96, test_samples=32, hidden=16, hardware_eval=False)


def test_slayer_method_is_lava_dls_recipe():
    cfg = resolved(TrainConfig(dataset="nmnist", method="slayer"))
    assert (cfg.lr, cfg.threshold, cfg.tau_grad, cfg.scale_grad) == (1e-3, 1.25, 0.03, 3.0)
    assert (cfg.true_rate, cfg.false_rate) == (0.2, 0.03)
    method = get_method("slayer")
    model = build_model(cfg, method, (2, 34, 34), 10)
    assert method.spike_mode == "hard"
    dense = model.weighted_blocks()[0]
    assert dense.synapse.pre_hook_fx == dense.neuron.quantize_8bit  # SLAYER's 8-bit hook
    assert dense.neuron.threshold == 1.25
    assert isinstance(method.optimizer(model, cfg), torch.optim.Adam)
    sam_cfg = resolved(TrainConfig(dataset="nmnist", method="slayer-sam"))
    tuned = TUNED["slayer-sam"]["rho"]
    assert sam_cfg.rho == tuned and sam_cfg.effective_rho == tuned  # chosen by lava_sast.tune
    assert isinstance(get_method("slayer-sam").optimizer(model, sam_cfg), SAM)
    assert cfg.effective_rho == 0.0
    assert get_method("baseline") is get_method("surrogate")


def test_smooth_names_the_smooth_forward_and_surrogate_stays_accepted(tmp_path):
    """``smooth`` is the name help shows for the smooth-forward method and spike mode;
    ``surrogate`` (and ``baseline``) read as it everywhere a name is read."""
    from lava_sast.cli import method_help, parse_training, training_parser
    from lava_sast.config import read_settings, with_config_file
    from lava_sast.neuron import SastCubaNeuron
    assert get_method("smooth") is get_method("surrogate") is get_method("baseline")
    assert TrainConfig(method="smooth").method == "surrogate"  # what files store
    assert "smooth (alias surrogate, baseline)" in method_help(False)
    _, cfg, _, _ = parse_training(training_parser("t", None), ["--method", "smooth"])
    assert cfg.method == "surrogate"
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"methods": {"smooth": {"lr": 0.002}}}))
    settings = read_settings(best)
    assert settings == {"surrogate": {"lr": 0.002}}
    assert with_config_file(TrainConfig(method="surrogate"), settings, set()).lr == 0.002
    best.write_text(json.dumps({"methods": {"smooth": {}, "surrogate": {}}}))
    with pytest.raises(ValueError, match="given twice"):
        read_settings(best)
    n = SastCubaNeuron(threshold=1.0, current_decay=0.5, voltage_decay=0.5, spike_mode="hard")
    n.spike_mode = "smooth"
    assert n.spike_mode == "surrogate"


def test_slayer_method_learns_with_hard_spikes_forward(tmp_path):
    report = train_and_deploy(TrainConfig(method="slayer", epochs=3, out=str(tmp_path), seed=1,
                               train_samples=300, test_samples=90, hardware_eval=False))
    assert report["hard_accuracy"] > 0.3  # chance is 0.1


def test_anneal_raises_beta_geometrically_and_qat_trains_on_the_export_grid():
    cfg = resolved(TrainConfig(method="anneal", beta=1.0, beta_end=8.0, epochs=4))
    assert [get_method("anneal").beta_at(cfg, e) for e in (1, 2, 3, 4)] == \
        pytest.approx([1.0, 2.0, 4.0, 8.0])
    assert get_method("sast").beta_at(cfg, 4) == 1.0
    from lava_sast.quantize import quantize_weight
    qat_cfg = resolved(TrainConfig(qat_bits=4))
    qat = build_model(qat_cfg, get_method(qat_cfg.method), (2, 18, 18), 10)
    syn = qat.weighted_blocks()[0].synapse
    w = syn.weight.detach().clone().requires_grad_(True)
    seen = syn.pre_hook_fx(w)
    assert torch.equal(seen.detach(), quantize_weight(w.detach(), 4)[0])
    seen.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))  # straight-through


def test_reset_gradient_reaches_every_neuron_and_survives_a_rebuild():
    cfg = resolved(TrainConfig(method="surrogate", reset_grad="detached"))
    model = build_model(cfg, get_method(cfg.method), (2, 18, 18), 10)
    assert {n.reset_grad for n in model.neurons()} == {"detached"}
    from lava_sast.models import SastNetwork
    again = SastNetwork.from_config(model.config)  # what a checkpoint rebuilds
    assert {n.reset_grad for n in again.neurons()} == {"detached"}
    assert resolved(TrainConfig(method="surrogate")).reset_grad == "exact"
    with pytest.raises(ValueError, match="reset_grad"):
        model.set_reset_grad("none")


def test_subsets_are_stratified_and_validation_is_carved_from_training():
    cfg = TrainConfig(train_samples=200, val_fraction=0.1, seed=3)
    train_set, val, test = load_splits(cfg)
    assert len(train_set) + len(val) == 200
    assert set(train_set.labels.tolist()) == set(range(10))
    assert len(set(val.labels.tolist())) == 10
    full = load_dataset("digits", split="train")
    key = lambda d: {tuple(x.flatten().nonzero().flatten()[:20].tolist()) for x, _ in d}  # noqa
    assert not key(train_set) & key(val)  # no sample in both
    other, _, test2 = load_splits(TrainConfig(train_samples=200, seed=4))
    assert torch.equal(test.labels, test2.labels)  # the test subset is the same for every seed
    assert not torch.equal(train_set.labels, other.labels) or len(full) <= 200


def test_report_picks_the_best_validation_epoch(tmp_path):
    report = train_and_deploy(TrainConfig(epochs=3, beta_warmup=0, out=str(tmp_path), **SMALL))
    vals = [h["val_hard_accuracy"] for h in report["history"]]  # every epoch a candidate
    assert report["val_hard_accuracy"] == max(vals)
    assert report["best_epoch"] == max(i + 1 for i, v in enumerate(vals) if v == max(vals))
    assert report["val_samples"] == 10


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_interrupted_climb_every_run_resumes_bit_identically(tmp_path, monkeypatch, schedule):
    from lava_sast import trainer
    cfg = dict(method="sast", climb_every=2, rho=0.3, lr_schedule=schedule, epochs=3, **SMALL)
    train_and_deploy(TrainConfig(out=str(tmp_path / "full"), **cfg))
    real_epoch = trainer.train_epoch

    def interrupted(model, loader, optimizer, loss_fx, epoch, *rest):
        if epoch == 2:  # Ctrl-C in the second epoch
            raise KeyboardInterrupt
        return real_epoch(model, loader, optimizer, loss_fx, epoch, *rest)

    monkeypatch.setattr(trainer, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_and_deploy(TrainConfig(out=str(tmp_path / "cut"), **cfg))
    monkeypatch.setattr(trainer, "train_epoch", real_epoch)
    assert len(torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["history"]) == 1
    train_and_deploy(TrainConfig(out=str(tmp_path / "cut"), **cfg), resume=True)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["optimizer"]["steps"] == b["optimizer"]["steps"]


def test_independent_ascent_batch_trains(tmp_path):
    report = train_and_deploy(TrainConfig(method="sast", sam_ascent="independent", epochs=1,
                               out=str(tmp_path), **SMALL))
    assert report["config"]["sam_ascent"] == "independent"


def test_a_finished_run_is_not_overwritten_without_resume(tmp_path, capsys):
    from lava_sast.train import main
    args = ["--epochs", "1", "--train-samples", "64", "--hidden", "8", "--no-hardware-eval",
            "--out", str(tmp_path)]
    assert main(args) == 0
    before = (tmp_path / "report.json").read_bytes()
    assert main(args) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (tmp_path / "report.json").read_bytes() == before
    (tmp_path / "file").write_text("x")
    assert main(args[:-1] + [str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err


@pytest.mark.parametrize("flag,value", [("--lr", "nan"), ("--lr", "-1"), ("--rho", "-0.1"),
                                        ("--beta", "0"), ("--epochs", "0"),
                                        ("--batch-size", "0"), ("--n-bins", "0"),
                                        ("--train-samples", "-1"), ("--val-fraction", "1")])
def test_bad_numbers_are_refused_before_anything_is_written(tmp_path, capsys, flag, value):
    from lava_sast.train import main
    out = tmp_path / "o"
    try:
        code = main([flag, value, "--out", str(out)])
    except SystemExit as stop:  # refused by the option's type: a usage error naming it
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert flag.lstrip("-").replace("-", "_") in err or flag in err
    assert not out.exists()


def _option_strings(parser_main, prog_argv):
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        parser_main(prog_argv)
    return {w.strip(",[]") for w in buf.getvalue().split() if w.startswith("--")}


def test_every_training_option_is_accepted_by_sweep_and_study():
    from lava_sast import train as train_cli
    from lava_sast.experiments import study, sweep
    train_opts = _option_strings(train_cli.main, ["--help"])
    assert {"--method", "--qat-bits", "--val-fraction", "--bin-us", "--climb-every",
            "--no-hardware-eval", "--lr-schedule", "--sam-ascent"} <= train_opts
    for cli in (sweep.main, study.main):  # a study runs every fold: no --fold
        assert train_opts - {"--fold"} <= _option_strings(cli, ["--help"])


def test_study_pairs_methods_with_slayer_and_refuses_foreign_run_folders(tmp_path, capsys):
    from lava_sast.experiments.study import main
    args = ["--methods", "slayer", "slayer-sam", "--rho", "0.1", "--seeds", "0", "1",
            "--epochs", "1", "--train-samples", "64", "--test-samples", "32", "--hidden", "8",
            "--no-hardware-eval", "--out", str(tmp_path)]
    assert main(args) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())["summary"]
    assert set(summary) == {"slayer", "slayer-sam rho=0.1"}
    paired = summary["slayer-sam rho=0.1"]["vs_slayer"]["hard_accuracy"]
    reports = {s: json.loads((tmp_path / f"{m}_seed{s}" / "report.json").read_text())
               for m, s in [("slayer", 0), ("slayer", 1)]}
    mine = {s: json.loads((tmp_path / f"slayer-sam_rho0.1_seed{s}" / "report.json").read_text())
            for s in (0, 1)}
    assert paired["values"] == pytest.approx(
        [100 * (mine[s]["hard_accuracy"] - reports[s]["hard_accuracy"]) for s in (0, 1)])
    assert "Paired by seed" in (tmp_path / "summary.md").read_text()
    capsys.readouterr()
    assert main([a if a != "8" else "12" for a in args]) == 2  # another hidden width
    err = capsys.readouterr().err
    assert "other settings" in err and "hidden: stored 8, requested 12" in err


def test_resume_refuses_a_setting_that_differs_from_the_run(tmp_path, capsys):
    from lava_sast.train import main
    args = ["--epochs", "1", "--train-samples", "64", "--hidden", "8", "--no-hardware-eval",
            "--out", str(tmp_path)]
    assert main(args) == 0
    assert main(args + ["--resume", "--dataset", "shapes"]) == 2
    assert "trained with dataset 'digits', not 'shapes'" in capsys.readouterr().err
    assert main(args + ["--resume", "--method=slayer"]) == 2
    assert main(["--epochs", "2", "--out", str(tmp_path), "--resume"]) == 0  # only epochs


def test_checkpoints_never_run_pickled_code(tmp_path, capsys):
    import pickle
    from lava_sast.evaluate import main as evaluate_main

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    bad = tmp_path / "checkpoint.pt"
    torch.save({"model_config": Payload()}, bad, pickle_module=pickle)
    assert evaluate_main([str(bad)]) == 2
    assert not (tmp_path / "pwned").exists()
    assert "cannot be read safely" in capsys.readouterr().err
    (tmp_path / "random.pt").write_bytes(b"\x00" * 100)
    assert evaluate_main([str(tmp_path / "random.pt")]) == 2
    assert "random.pt" in capsys.readouterr().err
