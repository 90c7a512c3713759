"""`descend` and `run_loop` read no loss into Python per step: the loss stays a tensor until the progress shows it,
and the numbers shown are the loss values."""

from typing import Callable

import torch

from reprolab.runtime.train import descend, run_loop


def _descending(shown: list) -> tuple[torch.nn.Module, Callable[[int], torch.Tensor]]:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 3), torch.randn(16, 1)

    def step(_: int) -> torch.Tensor:
        loss = descend(optimizer, ((model(x) - y) ** 2).mean())
        shown.append(loss)
        return loss

    return model, step


def test_descend_returns_the_loss_detached_and_a_quiet_loop_reads_none(host_reads):
    losses: list[torch.Tensor] = []
    _, step = _descending(losses)
    run_loop(30, step, progress=False)
    assert host_reads == []                                     # 30 steps, no value brought to the host
    assert len(losses) == 30 and not any(loss.requires_grad for loss in losses)
    values = torch.stack(losses)
    assert bool((values[1:] < values[:-1]).all())               # the losses of a descent on a convex loss


def test_the_progress_line_shows_the_steps_loss(capfd, monkeypatch):
    monkeypatch.setenv("REPROLAB_PROGRESS_EVERY", "0")          # a line at every step
    losses: list[torch.Tensor] = []
    _, step = _descending(losses)
    run_loop(3, step, progress=True, desc="descent")
    lines = [line for line in capfd.readouterr().err.splitlines() if "descent" in line]
    assert [line.split("loss=")[1].split(",")[0] for line in lines] == [f"{loss.item():.4g}" for loss in losses]
