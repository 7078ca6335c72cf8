"""Which attributes of the synthetic world a model's image embedding has learned, per checkpoint.

For every constant-LR checkpoint of one (procedure, size) in a grid folder, a linear probe
(softmax regression, full-batch L-BFGS, on the frozen L2-normalised image embedding) is
trained on 2,000 single-object scenes of the world's eval split and scored on 1,000 others,
once per attribute: shape, colour, size (3 bands) and position (3 x 3 anchors). Accuracy,
higher is better; chance is about 1 / the number of values (the attributes are Zipf-
distributed, so a little above). A skill that a metric needs and that appears abruptly
(accuracy jumping within one doubling of samples) makes that metric fall abruptly too, not
along a power law (BENCHMARKS.md, section 7).

    .venv/bin/python benchmarks/skill_probe.py SPEC DIR [--procedure clip] [--size xxs]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

N_TRAIN, N_TEST = 2000, 1000
#: eval-split offset of the probe's scenes (far from the evaluation tasks' ranges)
OFFSET = 1 << 30


def probe_accuracy(features, labels, n_train: int = N_TRAIN) -> float:  # noqa: ANN001
    """Held-out accuracy of a softmax regression from ``features`` (N, D) to ``labels``."""
    import torch

    x = torch.as_tensor(features, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.long)
    k = int(y.max()) + 1
    w = torch.zeros(x.shape[1], k, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():  # noqa: ANN202
        opt.zero_grad()
        logits = x[:n_train] @ w + b
        loss = torch.nn.functional.cross_entropy(logits, y[:n_train]) + 1e-4 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        pred = (x[n_train:] @ w + b).argmax(1)
    return float((pred == y[n_train:]).double().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spec", help="the grid's spec (YAML)")
    ap.add_argument("folder", help="the grid folder (scalecmp grid run --out DIR)")
    ap.add_argument("--procedure", default="clip")
    ap.add_argument("--size", default="xxs")
    args = ap.parse_args()

    import torch

    from scalecmp.experiments.evaluate import _encode_images
    from scalecmp.experiments.runner import GridRunner
    from scalecmp.experiments.spec import load_spec
    from scalecmp.experiments.trainer import load_checkpoint

    spec = load_spec(args.spec)
    runner = GridRunner(spec, Path(args.folder), device="cpu")
    world = runner._world(spec.data)
    scenes = world.batch(np.arange(OFFSET, OFFSET + N_TRAIN + N_TEST), split="eval")
    attributes = {"shape": scenes.shapes[:, 0], "colour": scenes.colours[:, 0],
                  "size": scenes.sizes[:, 0], "position": scenes.positions[:, 0]}
    pattern = f"checkpoints/*/{args.procedure}-{args.size}-*/const/ckpt-*.pt"
    paths = sorted(Path(args.folder).glob(pattern),
                   key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))
    if not paths:
        raise SystemExit(f"no constant-LR checkpoints match {args.folder}/{pattern}")
    print("samples_seen " + " ".join(f"{a:>8}" for a in attributes))
    for path in paths:
        model = runner.build_model(args.procedure, args.size)
        model.load_state_dict(load_checkpoint(path, map_location="cpu")["model"])
        model.eval()
        with torch.no_grad():
            emb = _encode_images(model, scenes.images, 256).numpy()
        accs = [probe_accuracy(emb, y) for y in attributes.values()]
        samples = int(re.findall(r"\d+", path.stem)[-1])
        print(f"{samples:>12} " + " ".join(f"{a:>8.2f}" for a in accs))


if __name__ == "__main__":
    main()
