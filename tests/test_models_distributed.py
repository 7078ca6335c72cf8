"""The contrastive loss under torch.distributed sees the global batch (features gathered)."""

import os
import socket

import pytest
import torch

from scalecmp.experiments.models import build_model

VOCAB, CTX, BATCH = 40, 12, 8


def _batch():
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(BATCH, 3, 32, 32, generator=gen)
    tokens = torch.randint(2, VOCAB - 1, (BATCH, CTX), generator=gen)
    tokens[:, 0], tokens[:, -1] = VOCAB - 2, VOCAB - 1
    return images, tokens


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _worker(rank, world, port, procedure, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        model = build_model(procedure, "xxs", vocab_size=VOCAB, context_length=CTX, seed=0)
        images, tokens = _batch()
        half = slice(rank * BATCH // world, (rank + 1) * BATCH // world)
        model(images[half], tokens[half])["loss"].backward()
        grads = _grads(model)
        for g in grads.values():  # what DDP does: average the ranks' gradients
            torch.distributed.all_reduce(g)
            g /= world
        if rank == 0:
            torch.save(grads, out)
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("procedure", ["clip", "mammut"])
def test_two_ranks_give_the_single_process_gradient(procedure, tmp_path):
    torch.set_num_threads(1)
    model = build_model(procedure, "xxs", vocab_size=VOCAB, context_length=CTX, seed=0)
    model(*_batch())["loss"].backward()
    single = _grads(model)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "grads.pt"
    torch.multiprocessing.start_processes(
        _worker, args=(2, port, procedure, str(out)), nprocs=2, start_method="fork"
    )
    two = torch.load(out)
    assert set(two) == set(single)
    for name, g in single.items():
        # the contrastive loss of each rank covers the global batch: the averaged gradient
        # is the single-process one (a local-only loss would differ by O(1))
        torch.testing.assert_close(two[name], g, rtol=2e-3, atol=2e-5, msg=name)
