"""Training-step throughput of scalecmp's procedures against a bare open_clip step.

For each ladder size it times one full training step (forward, loss, backward, AdamW step)
of

* ``scalecmp``: ``build_model("clip", size)`` (the harness wrapper),
* ``bare``: open_clip ``CLIP`` + ``ClipLoss`` built from the same vision/text config, the
  same seed (so the same weights), the same batch and vocabulary size,
* ``mammut``: ``build_model("mammut", size)``,

interleaved (bare, scalecmp, mammut; the order rotating between repeats) so that load
from other processes hits all alike, after warm-up steps; each repeat times ``--steps``
steps and the table reports the median samples/s over ``--repeats`` repeats.
Target: scalecmp >= 0.9x bare.

    python benchmarks/train_throughput.py --sizes xxs,s --batch-size 128 --repeats 7
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import time
from collections.abc import Callable

import torch
from open_clip import CLIP
from open_clip.loss import ClipLoss

from scalecmp.experiments.models import (
    SIZE_LADDER,
    build_model,
    get_size,
    measure_gflops_per_sample,
    text_config,
    vision_config,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="xxs,s", help="comma-separated ladder sizes")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats (median)")
    parser.add_argument("--steps", type=int, default=3, help="training steps per repeat")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per model")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--vocab-size", type=int, default=64)
    parser.add_argument("--context-length", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=32)
    return parser.parse_args(argv)


def make_batch(batch: int, vocab: int, context: int, image_size: int, seed: int = 0):
    """Random images and token rows ``[sot, words..., eot, pad...]`` (eot = largest id)."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, image_size, image_size, generator=gen)
    tokens = torch.randint(1, vocab - 2, (batch, context), generator=gen)
    lengths = torch.randint(4, context, (batch,), generator=gen)
    positions = torch.arange(context)[None, :]
    tokens[:, 0] = vocab - 2
    tokens[positions == lengths[:, None]] = vocab - 1
    tokens[positions > lengths[:, None]] = 0
    return images, tokens


def scalecmp_step(model: torch.nn.Module, images, tokens) -> Callable[[], float]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.2)

    def step() -> float:
        loss = model(images, tokens)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def bare_clip_step(model: CLIP, images, tokens) -> Callable[[], float]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.2)
    loss_fn = ClipLoss()

    def step() -> float:
        image_features, text_features, logit_scale = model(images, tokens)
        loss = loss_fn(image_features, text_features, logit_scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def build_bare_clip(size: str, vocab: int, context: int, image_size: int, seed: int) -> CLIP:
    spec = get_size(size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CLIP(
            spec.embed_dim, vision_config(spec, image_size), text_config(spec, vocab, context)
        )


def time_block(step: Callable[[], float], steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def run(args: argparse.Namespace) -> list[dict]:
    torch.set_num_threads(args.threads)
    images, tokens = make_batch(
        args.batch_size, args.vocab_size, args.context_length, args.image_size
    )
    rows = []
    for size in args.sizes.split(","):
        if size not in SIZE_LADDER:
            raise SystemExit(f"unknown size {size!r}; known: {', '.join(SIZE_LADDER)}")
        common = {
            "vocab_size": args.vocab_size,
            "context_length": args.context_length,
            "image_size": args.image_size,
            "seed": 0,
        }
        ours = build_model("clip", size, **common)
        mammut = build_model("mammut", size, **common)
        bare = build_bare_clip(size, args.vocab_size, args.context_length, args.image_size, 0)
        with torch.no_grad():
            same = torch.allclose(ours(images, tokens)["loss"], ClipLoss()(*bare(images, tokens)))
        steps = {
            "bare": bare_clip_step(bare, images, tokens),
            "scalecmp": scalecmp_step(ours, images, tokens),
            "mammut": scalecmp_step(mammut, images, tokens),
        }
        for step in steps.values():
            for _ in range(args.warmup):
                step()
        times: dict[str, list[float]] = {name: [] for name in steps}
        names = list(steps)
        for r in range(args.repeats):  # interleaved, the order rotating from repeat to repeat
            for name in names[r % len(names) :] + names[: r % len(names)]:
                times[name].append(time_block(steps[name], args.steps))
        med = {name: statistics.median(ts) for name, ts in times.items()}
        g_clip = measure_gflops_per_sample(ours, args.image_size, args.context_length)
        g_mammut = measure_gflops_per_sample(mammut, args.image_size, args.context_length)
        rows.append(
            {
                "size": size,
                "bare_sps": args.batch_size / med["bare"],
                "scalecmp_sps": args.batch_size / med["scalecmp"],
                "mammut_sps": args.batch_size / med["mammut"],
                "ratio": med["bare"] / med["scalecmp"],
                "mammut_time_ratio": med["mammut"] / med["scalecmp"],
                "gflops_clip": g_clip,
                "gflops_mammut": g_mammut,
                "same_init_loss": bool(same),
            }
        )
    return rows


def print_table(rows: list[dict], args: argparse.Namespace) -> None:
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch_size}, "
        f"context {args.context_length}, vocab {args.vocab_size}, "
        f"image {args.image_size}px; median of {args.repeats} repeats x {args.steps} steps"
    )
    header = (
        f"{'size':<5} {'GFLOPs/sample':>13} {'bare clip':>10} {'scalecmp clip':>14} "
        f"{'ratio':>6} {'mammut':>8} {'mammut/clip':>12} {'GFLOPs ratio':>12} "
        f"{'same init':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['size']:<5} {r['gflops_clip']:>13.4f} {r['bare_sps']:>10.0f} "
            f"{r['scalecmp_sps']:>14.0f} {r['ratio']:>5.2f}x {r['mammut_sps']:>8.0f} "
            f"{r['mammut_time_ratio']:>11.2f}x {r['gflops_mammut'] / r['gflops_clip']:>11.2f}x "
            f"{str(r['same_init_loss']):>9}"
        )
    print(
        "(samples/s of one training step: forward, loss, backward, AdamW step; ratio ="
        " scalecmp / bare throughput, target >= 0.90x; mammut/clip = step-time ratio)"
    )
    worst = min(r["ratio"] for r in rows)
    print(f"worst scalecmp/bare ratio: {worst:.2f}x -> {'OK' if worst >= 0.9 else 'BELOW TARGET'}")


def command_line(args: argparse.Namespace) -> str:
    """The full command line (every option spelled out) that reproduces this run."""
    items = vars(args).items()
    options = " ".join(f"--{k.replace('_', '-')} {shlex.quote(str(v))}" for k, v in items)
    return f"python benchmarks/train_throughput.py {options}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"reproduce: {command_line(args)}")
    print_table(run(args), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
