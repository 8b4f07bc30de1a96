"""``train.amp`` / ``channels_last`` / ``compile`` = "auto": what auto chooses on each device
(from made-up capabilities), that CPU runs stay exactly as before, that the run says what it
chose, where compiled artifacts are cached, and that a failing compile never fails a run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine import events as ev
from engine import preset as presets
from engine.console import ProgressPrinter
from engine.preset import Preset, PresetError
from engine.runs import RunFiles
from engine.trainer import Trainer
from engine.training import compiling
from engine.training.speed import (
    COMPILE_MIN_STEPS,
    COMPILE_MIN_STEPS_LARGE,
    Capability,
    decide,
    x86_cpu,
)
from tests.conftest import tiny_preset

DIGITS = presets.presets_dir() / "digits.toml"

AUTO = Preset().train
OFF = (
    Preset()
    .with_changes({"train.amp": False, "train.channels_last": False, "train.compile": False})
    .train
)


def gpu(**changes) -> Capability:
    """An Ampere-class GPU training a 32 px convnet for 10 epochs of 157 steps."""
    base = dict(
        device="cuda",
        bf16=True,
        compute=(9, 0),
        image_side=32,
        steps_per_epoch=157,
        epochs=10,
    )
    return Capability(**{**base, **changes})


def train(**changes):
    return Preset().with_changes({f"train.{k}": v for k, v in changes.items()}).train


# ------------------------------------------------------------------ the decision


@pytest.mark.parametrize(
    "cap",
    [
        Capability("mps", steps_per_epoch=10_000, epochs=100),
        Capability("cpu", x86=False, steps_per_epoch=10_000, epochs=100),  # e.g. Apple silicon
    ],
    ids=["mps", "arm-cpu"],
)
def test_auto_turns_nothing_on_off_cuda_and_x86(cap):
    choice = decide(AUTO, cap)
    assert (choice.amp, choice.channels_last, choice.compile) == (None, False, False)
    assert choice.summary() == "fp32 · eager"
    assert choice.auto == ("amp", "channels_last", "compile", "compile_mode")
    assert all(cap.device in reason for reason in choice.reasons)


def test_auto_on_an_x86_cpu_is_channels_last_for_convolutions_only():
    """Measured on this project's 2-core x86 CPU: 0.64-0.93 of the time (BENCHMARKS.md)."""
    choice = decide(AUTO, Capability("cpu", steps_per_epoch=10_000, epochs=100))
    assert (choice.amp, choice.channels_last, choice.compile) == (None, True, False)
    assert choice.summary() == "fp32 · channels-last · eager"
    assert "x86 CPU" in choice.reasons[1] and not choice.cudnn_autotune
    mlp = decide(AUTO, Capability("cpu", convolutional=False))
    assert not mlp.channels_last and "no convolutions" in mlp.reasons[1]
    assert not decide(AUTO, Capability("cpu", images=False)).channels_last  # a head on features
    ddp = decide(AUTO, Capability("cpu", distributed=True))
    assert not ddp.channels_last and "several processes" in ddp.reasons[1]
    assert not decide(OFF, Capability("cpu")).channels_last  # explicit false stays false


def test_auto_on_a_bf16_gpu_is_bf16_channels_last_and_cuda_graphs():
    choice = decide(AUTO, gpu())
    assert choice.amp == "bf16" and choice.channels_last
    assert choice.compile and choice.compile_mode == "reduce-overhead"
    assert choice.summary() == "bf16 · channels-last · compiled (reduce-overhead)"
    assert "native bf16" in choice.reasons[0]


def test_cudnn_autotunes_convolutions_on_cuda_only():
    assert decide(AUTO, gpu()).cudnn_autotune and decide(OFF, gpu()).cudnn_autotune
    assert not decide(AUTO, gpu(convolutional=False)).cudnn_autotune
    assert not decide(AUTO, gpu(images=False)).cudnn_autotune  # a head on features
    cpu = decide(AUTO, Capability("cpu", steps_per_epoch=10_000, epochs=100))
    assert not cpu.cudnn_autotune and len(cpu.reasons) == 3


def test_auto_without_bf16_uses_fp16_with_loss_scaling():
    choice = decide(AUTO, gpu(bf16=False, compute=(7, 5)))
    assert choice.amp == "fp16" and "loss scaling" in choice.reasons[0]


def test_channels_last_auto_only_for_convolutional_networks_on_images():
    assert not decide(AUTO, gpu(convolutional=False)).channels_last
    features = decide(AUTO, gpu(images=False))
    assert not features.channels_last and not features.compile
    assert "feature" in features.reasons[1]


def test_compile_auto_needs_enough_steps_to_pay_back():
    short = decide(AUTO, gpu(steps_per_epoch=COMPILE_MIN_STEPS // 10 - 1, epochs=10))
    assert not short.compile and "would not pay back" in short.reasons[2]
    long = decide(AUTO, gpu(steps_per_epoch=COMPILE_MIN_STEPS // 10, epochs=10))
    assert long.compile


def test_compile_auto_waits_longer_for_large_images():
    """Photo-sized steps are bound by arithmetic: compiling saves less per step than CUDA graphs
    save on small images, so it takes a longer run to pay back (the H200's 224 px run)."""
    photo = {"image_side": 224, "epochs": 10}
    short = decide(AUTO, gpu(steps_per_epoch=COMPILE_MIN_STEPS // 10, **photo))
    assert not short.compile and "1,000 planned steps < 3,000 at 224 px" in short.reasons[2]
    long = decide(AUTO, gpu(steps_per_epoch=COMPILE_MIN_STEPS_LARGE // 10, **photo))
    assert long.compile and long.compile_mode == "default"


def test_compile_auto_mode_by_image_size_and_never_with_ddp_or_without_triton():
    assert decide(AUTO, gpu(image_side=224)).compile_mode == "default"
    assert decide(train(compile_mode="max-autotune"), gpu()).compile_mode == "max-autotune"
    assert not decide(AUTO, gpu(distributed=True)).compile
    no_triton = decide(AUTO, gpu(compiler=False))
    assert not no_triton.compile and "triton" in no_triton.reasons[2]


def test_explicit_values_override_auto():
    off = decide(OFF, gpu())
    assert (off.amp, off.channels_last, off.compile) == (None, False, False)
    assert off.auto == ("compile_mode",)
    on = decide(train(amp=True, channels_last=True, compile=True), Capability("cpu"))
    assert on.amp is None  # mixed precision is CUDA only, as before
    assert on.channels_last and on.compile and on.compile_mode == "default"
    assert "no effect on cpu" in on.reasons[0]
    short = decide(train(compile=True), gpu(steps_per_epoch=1, epochs=1))
    assert short.compile  # an explicit true compiles however short the run


def test_speed_reaches_run_started_as_plain_values():
    choice = decide(AUTO, gpu()).to_json()
    event = ev.from_json(ev.to_json(ev.RunStarted({}, "", {}, {}, speed=choice)))
    assert event.speed["summary"] == "bf16 · channels-last · compiled (reduce-overhead)"
    assert event.speed["amp"] == "bf16" and len(event.speed["reasons"]) == 4
    assert event.speed["cudnn_autotune"] and "cuDNN autotune: on" in event.speed["reasons"][3]
    old = ev.to_json(ev.RunStarted({}, "", {}, {}))
    del old["speed"]  # a JSON line from before this field
    assert ev.from_json(old).speed == {}


# ------------------------------------------------------------------ the preset keys


def test_presets_without_the_keys_get_auto_and_explicit_values_stay():
    omitted = presets.loads("[train]\nepochs = 2\n")
    assert (omitted.train.amp, omitted.train.channels_last, omitted.train.compile) == (
        "auto",
        "auto",
        "auto",
    )
    assert omitted.train.compile_mode == "auto"
    old = presets.loads(
        "[train]\namp = true\nchannels_last = false\ncompile = false\ncompile_mode = 'default'\n"
    )
    assert (old.train.amp, old.train.channels_last, old.train.compile) == (True, False, False)
    assert old.train.compile_mode == "default"
    assert presets.loads(presets.dumps(old)) == old  # saved and loaded back identical
    assert presets.load(DIGITS.parent / "cifar10.toml").train.amp is True  # shipped, explicit
    text = presets.dumps(omitted)
    assert 'amp = "auto"' in text and presets.loads(text) == omitted


def test_auto_keys_from_set_and_forms():
    values = presets.parse_overrides(["train.amp=auto", "train.compile=true", "train.amp=off"])
    assert values == {"train.amp": False, "train.compile": True}
    assert presets.parse_overrides(["train.channels_last='auto'"]) == {
        "train.channels_last": "auto"
    }
    # a text field shows str(value) and reads its text back
    assert Preset().with_changes({"train.amp": "True", "train.compile": "auto"}).train.amp is True


@pytest.mark.parametrize("key", ["amp", "channels_last", "compile"])
def test_invalid_value_names_the_key_and_what_it_accepts(key):
    for text in (f"[train]\n{key} = 'fast'\n", f"[train]\n{key} = 1\n"):
        with pytest.raises(PresetError) as err:
            presets.loads(text)
        assert err.value.key == f"train.{key}"
        assert 'expected true, false or "auto"' in str(err.value)
    with pytest.raises(PresetError) as err:
        presets.parse_overrides([f"train.{key}=maybe"])
    assert f"'train.{key}'" in str(err.value) and '"auto"' in str(err.value)


# ------------------------------------------------------------------ runs


def test_auto_on_cpu_trains_bit_identically_to_the_settings_it_names(runs_dir):
    """auto adds nothing hidden: a CPU run under auto equals, bit for bit, the same run with
    the choice it announced written out (fp32, channels-last on an x86 CPU, eager); and that
    stays within rounding of today's run with every setting off."""
    common = {"train.epochs": 2, "train.device": "cpu"}
    auto = presets.load(DIGITS, overrides=common)
    assert auto.train.amp == "auto"
    seen = []
    a = Trainer(auto, out=runs_dir / "auto").fit(seen.append)
    started = next(e for e in seen if isinstance(e, ev.RunStarted))
    x86 = x86_cpu()
    assert started.speed["channels_last"] == x86
    assert started.speed["summary"] == ("fp32 · channels-last · eager" if x86 else "fp32 · eager")
    assert not any(isinstance(e, ev.Compiling) for e in seen)
    named = {"train.amp": False, "train.channels_last": x86, "train.compile": False}
    b = Trainer(presets.load(DIGITS, overrides={**common, **named}), out=runs_dir / "named").fit()
    rows_a, rows_b = (RunFiles(s.run_dir).read_metrics() for s in (a, b))
    assert [r.without_timing() for r in rows_a] == [r.without_timing() for r in rows_b]
    state_a = torch.load(Path(a.run_dir) / "checkpoints" / "last.pt", weights_only=True)
    state_b = torch.load(Path(b.run_dir) / "checkpoints" / "last.pt", weights_only=True)
    assert state_a["model"].keys() == state_b["model"].keys()
    for name, tensor in state_a["model"].items():
        assert torch.equal(tensor, state_b["model"][name]), name
    off = {"train.amp": False, "train.channels_last": False, "train.compile": False}
    c = Trainer(presets.load(DIGITS, overrides={**common, **off}), out=runs_dir / "off").fit()
    rows_c = RunFiles(c.run_dir).read_metrics()
    assert [r.val_acc for r in rows_a] == pytest.approx([r.val_acc for r in rows_c], abs=0.002)
    assert [r.train_loss for r in rows_a] == pytest.approx([r.train_loss for r in rows_c], rel=1e-3)


def test_cli_prints_what_auto_chose(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "engine", str(DIGITS), "--epochs", "1", "--device", "cpu"]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("speed: "))
    layout = "channels-last · " if x86_cpu() else ""
    assert line.startswith(f"speed: fp32 · {layout}eager — amp auto: off on cpu")
    assert "compile auto: off on cpu" in line


def test_failing_compile_falls_back_to_eager_with_a_warning(runs_dir, monkeypatch):
    class Broken(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x, y):
            raise RuntimeError("backend compiler failed: no C compiler found\nmore")

    compiled = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: compiled.append(kw) or Broken(model))
    seen = []
    summary = Trainer(tiny_preset(**{"train.compile": True}), out=runs_dir / "c").fit(seen.append)
    assert compiled and summary.status == "finished"
    stages = [(e.stage, e.epoch) for e in seen if isinstance(e, ev.Compiling)]
    assert stages == [("compiling", 1), ("failed", 1)]  # once: later steps are eager
    failed = next(e for e in seen if isinstance(e, ev.Compiling) and e.stage == "failed")
    assert "no C compiler found" in failed.message and "continues without it" in failed.message
    plain = Trainer(tiny_preset(**{"train.compile": False}), out=runs_dir / "p").fit()
    rows = [RunFiles(s.run_dir).read_metrics() for s in (summary, plain)]
    assert [r.without_timing() for r in rows[0]] == [r.without_timing() for r in rows[1]]
    printed = []
    printer = ProgressPrinter(stream=_Lines(printed))
    for event in seen:
        printer(event)
    assert any(x.startswith("compiling (first epoch): torch.compile") for x in printed)
    assert any(x.startswith("warning: torch.compile failed (RuntimeError") for x in printed)


class _Passthrough(torch.nn.Module):
    """Stands in for a compiled model (torch.compile patched out): checks what CUDA graphs
    need of a step, then runs the model as it is."""

    def __init__(self, model, grads_seen: list, batches: list | None = None):
        super().__init__()
        self.model, self.grads_seen, self.batches = model, grads_seen, batches

    def forward(self, x, y):
        self.grads_seen.append(sum(q.grad is not None for q in self.model.parameters()))
        if self.batches is not None:
            self.batches.append(len(x))
        return self.model(x, y)


def test_a_cuda_graph_step_starts_with_no_live_outputs_of_the_last(runs_dir, monkeypatch):
    """Under ``reduce-overhead`` each step is marked as a new one before its forward, and no
    gradient of the last step is alive while it runs: either would make torch record a new
    CUDA graph every step instead of replaying one (seen on an H200: resnet18 at 32 px had not
    finished its first epoch after 4 minutes)."""
    grads_seen, marks = [], []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: _Passthrough(model, grads_seen))
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: marks.append(1))
    p = tiny_preset(**{"train.compile": True, "train.compile_mode": "reduce-overhead"})
    summary = Trainer(p, out=runs_dir / "graphs").fit()
    assert summary.status == "finished"
    steps = summary.steps_per_epoch * summary.epochs_completed
    assert len(marks) == steps and len(grads_seen) == steps
    assert set(grads_seen) == {0}  # the last step's gradients were gone before each forward
    marks.clear()
    Trainer(
        tiny_preset(**{"train.compile": True, "train.compile_mode": "default"}),
        out=runs_dir / "fused",
    ).fit()
    assert not marks  # no CUDA graphs, nothing to mark


def test_a_compiled_run_trains_whole_batches_and_one_graph_holds_the_loss(runs_dir, monkeypatch):
    """Compiled, every step is a whole batch (a remainder would be a second shape: a second
    compile in the first epoch, ~15 s for resnet18 on an H200), and the step's one compiled
    module returns the loss too (its kernels join the network's graph). Eager runs keep the
    remainder."""
    batches, compiled = [], []

    def fake_compile(model, **kw):
        compiled.append(model)
        return _Passthrough(model, [], batches)

    monkeypatch.setattr(torch, "compile", fake_compile)
    changes = {"data.synthetic.samples": 250, "data.val_fraction": 0.2, "train.epochs": 2}
    summary = Trainer(tiny_preset(**changes, **{"train.compile": True}), out=runs_dir / "c").fit()
    assert summary.status == "finished"
    assert summary.steps_per_epoch == 200 // 32 and set(batches) == {32}
    assert len(batches) == 2 * (200 // 32)
    logits, loss = compiled[0](torch.zeros(2, 1, 8, 8), torch.tensor([0, 1]))
    assert logits.shape == (2, 3) and loss.ndim == 0  # the network with its loss
    eager = Trainer(tiny_preset(**changes, **{"train.compile": False}), out=runs_dir / "e").fit()
    assert eager.steps_per_epoch == 7


def test_a_compiled_run_resumed_where_it_does_not_compile_replans_its_schedule(
    runs_dir, monkeypatch
):
    """Compiled, an epoch has 6 whole batches; resumed where torch.compile is not chosen (a GPU
    run resumed on the CPU), 7 with the remainder. The one-cycle schedule is planned again for
    7 a step instead of running past the 3 x 6 steps it was planned for; and the other way
    round for a checkpoint from before checkpoints kept their step count."""
    from dataclasses import replace

    from engine.control import RunControl
    from engine.training import assembly

    monkeypatch.setattr(torch, "compile", lambda model, **kw: _Passthrough(model, []))
    changes = {
        "data.synthetic.samples": 250,
        "data.val_fraction": 0.2,
        "train.schedule.name": "onecycle",
        "train.compile": "auto",
    }
    p = tiny_preset(**changes)
    decide = assembly.speed.decide
    monkeypatch.setattr(
        assembly.speed, "decide", lambda train, cap: replace(decide(train, cap), compile=True)
    )
    control = RunControl()
    stop = lambda e: isinstance(e, ev.EpochEnd) and control.stop()  # noqa: E731 - after epoch 1
    stopped = Trainer(p, out=runs_dir, control=control).fit(stop)
    assert stopped.steps_per_epoch == 6 and stopped.epochs_completed == 1
    monkeypatch.setattr(assembly.speed, "decide", decide)  # this device does not compile
    resumed = Trainer(p, resume_dir=stopped.run_dir).fit()
    assert resumed.status == "finished", resumed.error
    assert resumed.steps_per_epoch == 7 and resumed.epochs_completed == 3
    lrs = [r.lr for r in RunFiles(resumed.run_dir).read_metrics()]
    assert lrs[-1] < 1e-6 < lrs[0]  # the cycle came down to its end

    # a checkpoint saved before checkpoints kept their step count (every run then counted its
    # remainder) resumed where torch.compile is chosen: 6 steps an epoch instead of 7
    control = RunControl()
    stopped = Trainer(p, out=runs_dir / "old", control=control).fit(stop)
    path = RunFiles(stopped.run_dir).last_checkpoint
    saved = torch.load(path, weights_only=False)
    assert saved.pop("steps_per_epoch") == 7
    torch.save(saved, path)
    monkeypatch.setattr(
        assembly.speed, "decide", lambda train, cap: replace(decide(train, cap), compile=True)
    )
    resumed = Trainer(p, resume_dir=stopped.run_dir).fit()
    assert resumed.status == "finished" and resumed.steps_per_epoch == 6
    assert RunFiles(resumed.run_dir).read_metrics()[-1].lr < 1e-6  # not left part-way


class _Lines:
    def __init__(self, lines: list[str]):
        self.lines = lines

    def write(self, text: str) -> None:
        self.lines.extend(x for x in text.splitlines() if x)

    def flush(self) -> None:
        pass


# ------------------------------------------------------------------ the compile cache


def test_compile_cache_goes_to_the_user_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("PLATEAU_CACHE_DIR", str(tmp_path / "cache" / "images"))
    monkeypatch.setenv(compiling.CACHE_ENV, "")
    monkeypatch.delenv(compiling.CACHE_ENV)
    folder = compiling.use_cache()
    assert Path(folder) == tmp_path / "cache" / "torch-compile" and Path(folder).is_dir()
    assert os.environ[compiling.CACHE_ENV] == folder
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config

    assert inductor_config.fx_graph_cache and functorch_config.enable_autograd_cache


def test_compile_cache_moves_from_torchs_default(monkeypatch, tmp_path):
    from torch._inductor.runtime.cache_dir_utils import cache_dir, default_cache_dir

    monkeypatch.setenv("PLATEAU_CACHE_DIR", str(tmp_path / "images"))
    monkeypatch.setenv(compiling.CACHE_ENV, default_cache_dir())  # what torch sets on first use
    assert Path(compiling.use_cache()) == tmp_path / "torch-compile"
    assert Path(cache_dir()) == tmp_path / "torch-compile"  # where inductor writes now


def test_compile_cache_keeps_a_folder_the_user_chose(monkeypatch, tmp_path):
    mine = tmp_path / "my-inductor-cache"
    monkeypatch.setenv(compiling.CACHE_ENV, str(mine))
    assert compiling.use_cache() == str(mine) and mine.is_dir()
