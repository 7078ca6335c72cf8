"""Trainer: schedules, a loss that falls, exact resume after a kill, cooldown branches, DDP."""

from __future__ import annotations

import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scalecmp.errors import UsageError
from scalecmp.experiments.schedules import Schedule
from scalecmp.experiments.trainer import (
    Callback,
    TrainConfig,
    Trainer,
    build_optimizer,
    list_checkpoints,
    shard_range,
)

torch.set_num_threads(1)

N_CLASSES = 8


class ToySource:
    """Positions -> (4x4 images of a class pattern + noise, 'word<class>'), deterministic."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.patterns = rng.integers(0, 256, size=(N_CLASSES, 4, 4, 3))

    def batch(self, start, size):
        pos = np.arange(start, start + size)
        classes = (pos * 7919) % N_CLASSES
        noise = np.stack([np.random.default_rng(int(p)).integers(-40, 40, (4, 4, 3)) for p in pos])
        images = np.clip(self.patterns[classes] + noise, 0, 255).astype(np.uint8)
        return images, [f"word{c}" for c in classes]


def prepare(images, captions):
    x = torch.from_numpy(images).float().permute(0, 3, 1, 2) / 255.0
    tokens = torch.tensor([[int(c[4:]) + 1] for c in captions])
    return x, tokens


class ToyCLIP(nn.Module):
    """Linear image tower, embedding text tower; contrastive or per-sample loss."""

    def __init__(self, contrastive: bool = True) -> None:
        super().__init__()
        self.contrastive = contrastive
        self.image = nn.Sequential(nn.Flatten(), nn.Linear(48, 32), nn.GELU(), nn.Linear(32, 16))
        self.ln_image = nn.LayerNorm(16)
        self.text = nn.Embedding(N_CLASSES + 1, 16)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    def forward(self, x, tokens):
        fi = F.normalize(self.ln_image(self.image(x)), dim=-1)
        ft = F.normalize(self.text(tokens).mean(1), dim=-1)
        if not self.contrastive:  # per-sample loss: DDP over shards == one process
            return {"loss": (1 - (fi * ft).sum(-1)).mean() + 0 * self.logit_scale}
        logits = self.logit_scale.exp() * fi @ ft.t()
        labels = torch.arange(len(x))
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
        return {"loss": loss}


def make_trainer(run_dir, config, callbacks=(), contrastive=True, **kw):
    torch.manual_seed(config.seed)
    return Trainer(
        ToyCLIP(contrastive), ToySource(), prepare, config, run_dir, callbacks=callbacks,
        device="cpu", **kw,
    )


def eval_measurement(model) -> float:
    """A deterministic 'measurement' of a model: accuracy of retrieving the class word."""
    x, tokens = prepare(*ToySource().batch(10_000, 64))
    with torch.no_grad():
        fi = F.normalize(model.ln_image(model.image(x)), dim=-1)
        ft = F.normalize(model.text(torch.arange(1, N_CLASSES + 1)[:, None]).mean(1), dim=-1)
    return float(((fi @ ft.t()).argmax(1) + 1 == tokens[:, 0]).float().mean())


class Recorder(Callback):
    def __init__(self) -> None:
        self.losses, self.evals = [], {}

    def on_step(self, trainer, step, loss):
        self.losses.append(loss)

    def on_checkpoint(self, trainer, samples_seen, path):
        self.evals[samples_seen] = eval_measurement(trainer.model)
        torch.rand(3)  # a callback that consumes RNG must not change the trajectory


class Kill(Callback):
    def __init__(self, at_step: int) -> None:
        self.at_step = at_step

    def on_step(self, trainer, step, loss):
        if step == self.at_step:
            raise KeyboardInterrupt("simulated kill")


# ------------------------------------------------------------------------ schedules
def test_warmup_is_linear():
    s = Schedule("cosine", 1e-3, warmup_steps=10, total_steps=100)
    assert s.lr(0) == pytest.approx(1e-4)
    assert s.lr(4) == pytest.approx(5e-4)
    assert s.lr(9) == pytest.approx(1e-3)
    assert s.lr(10) == pytest.approx(1e-3)


def test_cosine_ends_at_zero_and_is_monotone():
    s = Schedule("cosine", 1e-3, warmup_steps=10, total_steps=100)
    values = [s.lr(i) for i in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    assert s.lr(55) == pytest.approx(5e-4)
    assert s.lr(100) == pytest.approx(0.0, abs=1e-15)
    assert s.lr(99) < 1e-6


def test_const_and_cooldown():
    const = Schedule("const", 2e-3, warmup_steps=5)
    assert const.lr(5) == const.lr(10_000) == 2e-3
    cd = Schedule("cooldown", 2e-3, warmup_steps=5, total_steps=100, cooldown_start=80)
    assert [cd.lr(i) for i in range(0, 80)] == [const.lr(i) for i in range(0, 80)]
    assert cd.lr(90) == pytest.approx(1e-3)
    assert cd.lr(100) == 0.0
    decay = [cd.lr(i) for i in range(80, 101)]
    assert all(a > b for a, b in zip(decay, decay[1:], strict=False))


def test_bad_schedules_raise():
    with pytest.raises(UsageError):
        Schedule("linear", 1e-3)
    with pytest.raises(UsageError):
        Schedule("cooldown", 1e-3, total_steps=10, cooldown_start=10)
    with pytest.raises(UsageError, match="multiple of the batch size"):
        TrainConfig(lr=1e-3, batch_size=32, total_samples=100)


# ------------------------------------------------------------------------ optimiser
def test_weight_decay_groups_follow_open_clip():
    model = ToyCLIP()
    opt = build_optimizer(model, TrainConfig(lr=1e-3, batch_size=8, total_samples=8))
    no_decay, decay = opt.param_groups
    assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] == 0.2
    assert opt.defaults["betas"] == (0.9, 0.95)
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in decay["params"]} == {
        "image.1.weight", "image.3.weight", "text.weight"
    }
    assert "logit_scale" in {names[id(p)] for p in no_decay["params"]}


# ------------------------------------------------------------------------ training
def test_tiny_training_run_loss_falls(tmp_path):
    cfg = TrainConfig(lr=5e-3, batch_size=32, total_samples=32 * 60, warmup_steps=5,
                      schedule="cosine")
    rec = Recorder()
    state = make_trainer(tmp_path, cfg, [rec]).run()
    assert state.samples_seen == 32 * 60
    assert np.mean(rec.losses[-10:]) < 0.6 * np.mean(rec.losses[:5])
    assert list(list_checkpoints(tmp_path)) == [32 * 60]


def test_resume_after_kill_gives_same_final_measurements(tmp_path):
    cfg = TrainConfig(lr=3e-3, batch_size=16, total_samples=16 * 40, warmup_steps=4,
                      schedule="cosine", checkpoints=(16 * 10, 16 * 20, 16 * 30))
    ref = Recorder()
    ref_trainer = make_trainer(tmp_path / "ref", cfg, [ref])
    ref_trainer.run()

    first = Recorder()
    with pytest.raises(KeyboardInterrupt):
        make_trainer(tmp_path / "run", cfg, [first, Kill(at_step=25)]).run()
    assert list(list_checkpoints(tmp_path / "run")) == [160, 320]  # killed after 2 checkpoints
    second = Recorder()
    resumed = make_trainer(tmp_path / "run", cfg, [second])
    state = resumed.run()
    assert state.step == 40
    assert len(second.losses) == 20  # resumed at step 20
    assert second.losses == ref.losses[20:]
    assert {**first.evals, **second.evals} == ref.evals
    for (name, a), b in zip(ref_trainer.model.state_dict().items(),
                            resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_cooldown_branch_from_const_checkpoint(tmp_path):
    const = TrainConfig(lr=3e-3, batch_size=16, total_samples=16 * 30, warmup_steps=4,
                        schedule="const", checkpoints=(16 * 16,))
    make_trainer(tmp_path / "const", const).run()
    start = list_checkpoints(tmp_path / "const")[16 * 16]
    branch = TrainConfig(lr=3e-3, batch_size=16, total_samples=16 * 20, warmup_steps=4,
                         schedule="cooldown", cooldown_start=16 * 16)
    lrs = []

    class LR(Callback):
        def on_step(self, trainer, step, loss):
            lrs.append((step, trainer.optimizer.param_groups[0]["lr"]))

    state = make_trainer(tmp_path / "branch", branch, [LR()], init_from=start).run()
    assert state.samples_seen == 16 * 20
    assert [s for s, _ in lrs] == [16, 17, 18, 19]
    assert lrs[0][1] == pytest.approx(3e-3) and lrs[-1][1] == pytest.approx(3e-3 / 4)
    assert list(list_checkpoints(tmp_path / "branch")) == [16 * 20]


def test_shard_range():
    assert shard_range(128, 64, 0, 2) == (128, 32)
    assert shard_range(128, 64, 1, 2) == (160, 32)
    with pytest.raises(UsageError):
        shard_range(0, 63, 0, 2)


# ------------------------------------------------------------------------ DDP (gloo, 2 procs)
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, run_dir: str, cfg: TrainConfig) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        make_trainer(run_dir, cfg, contrastive=False).run()
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path):
    cfg = TrainConfig(lr=3e-3, batch_size=16, total_samples=16 * 12, warmup_steps=2,
                      schedule="cosine", checkpoints=(16 * 6,))
    single = make_trainer(tmp_path / "one", cfg, contrastive=False)
    single.run()
    torch.multiprocessing.start_processes(
        _ddp_worker, args=(2, _free_port(), str(tmp_path / "two"), cfg), nprocs=2,
        start_method="fork",
    )
    ckpts = list_checkpoints(tmp_path / "two")
    assert list(ckpts) == [16 * 6, 16 * 12]
    two = torch.load(ckpts[16 * 12], weights_only=False)["model"]
    for name, value in single.model.state_dict().items():
        torch.testing.assert_close(two[name], value, rtol=1e-4, atol=1e-5, msg=name)


def test_bf16_autocast_runs(tmp_path):
    cfg = TrainConfig(lr=3e-3, batch_size=16, total_samples=16 * 4, precision="bf16")
    trainer = make_trainer(tmp_path, cfg)
    assert trainer.autocast_dtype == torch.bfloat16
    state = trainer.run()
    assert state.step == 4 and np.isfinite(state.recent_loss)
    fp32 = make_trainer(tmp_path / "fp32", TrainConfig(lr=3e-3, batch_size=16, total_samples=16))
    assert fp32.autocast_dtype is None  # CPU default: full precision


def test_a_damaged_checkpoint_is_one_data_error(tmp_path):
    """A truncated checkpoint (a copy cut short, a full disk after the atomic write) is a
    DataError naming the file, not torch's multi-line error; nothing is deleted."""
    from scalecmp.errors import DataError
    from scalecmp.experiments.trainer import load_checkpoint

    good = tmp_path / "ckpt-000000000064.pt"
    torch.save({"model": {}, "samples_seen": 64}, good)
    assert load_checkpoint(good)["samples_seen"] == 64
    cut = tmp_path / "ckpt-000000000128.pt"
    cut.write_bytes(good.read_bytes()[:100])
    with pytest.raises(DataError, match=r"checkpoint .*ckpt-000000000128\.pt cannot be read "
                       r"\(.*\): it is damaged; delete it") as info:
        load_checkpoint(cut)
    assert "\n" not in str(info.value) and cut.exists()
    other = tmp_path / "other.pt"
    torch.save([1, 2, 3], other)
    with pytest.raises(DataError, match="not a scalecmp checkpoint"):
        load_checkpoint(other)
