"""`descend` and `run_loop` read no loss into Python per step: the loss stays a tensor until the progress shows it,
and the numbers shown are the loss values."""

from typing import Callable

import pytest
import torch

from reprolab.runtime.train import StepLosses, descend, run_loop


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


def test_step_losses_are_read_in_one_transfer_with_the_values_of_item(host_reads):
    """`read` gives each kept step's losses as `item()` gives them (float32, float64 and bfloat16 alike) in one
    `tolist`, and nothing is read before it."""
    losses, rows = StepLosses(), []
    for step, value in enumerate((2.5, 1.1, 0.1)):
        kept = {"a": torch.tensor(value, requires_grad=True), "b": torch.tensor(value / 3, dtype=torch.float64),
                "c": torch.tensor(value, dtype=torch.bfloat16)}
        losses.add(step, **kept)
        rows.append({name: loss.detach().clone() for name, loss in kept.items()})
    assert host_reads == [] and len(losses) == 3
    read = losses.read()
    assert host_reads == ["tolist"] and len(losses) == 0 and losses.read() == []
    assert read == [{name: loss.item() for name, loss in row.items()} for row in rows]


def test_step_losses_name_the_first_step_with_a_non_finite_checked_loss():
    losses = StepLosses(finite=("f",))
    for step, (f, g) in enumerate([(1.0, float("nan")), (2.0, 1.0), (float("inf"), 1.0), (float("nan"), 1.0)]):
        losses.add(step + 10, f=torch.tensor(f), g=torch.tensor(g))       # g is not checked: its NaN passes
    with pytest.raises(FloatingPointError, match="^f is inf at step 12$"):
        losses.read()
    with pytest.raises(ValueError, match="adds the losses"):
        losses.add(0, f=torch.tensor(1.0))
        losses.add(1, g=torch.tensor(1.0))
