import pytest
import torch

from reprolab.runtime.train import run_loop


class Interrupt(Exception):
    pass


def _train(path, resume, stop_at=None, total=40):
    """A tiny SGD run whose every step draws fresh random data, so resuming must restore the RNG too."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    target = torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 1.0]])

    def step(i):
        if stop_at is not None and i == stop_at:
            raise Interrupt
        x = torch.randn(8, 3)
        loss = ((model(x) - x @ target.T) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    def evaluate(i):
        return {"w00": model.weight[0, 0].item()}

    history = run_loop(total, step, objects={"model": model, "opt": opt}, eval_fn=evaluate, eval_every=10,
                       checkpoint=path, checkpoint_every=10, resume=resume, progress=False)
    return model, history


def test_interrupted_run_resumes_to_identical_numbers(tmp_path):
    reference, ref_history = _train(tmp_path / "a.pt", resume=False)
    with pytest.raises(Interrupt):
        _train(tmp_path / "b.pt", resume=False, stop_at=25)  # two checkpoints (10, 20) written
    resumed, history = _train(tmp_path / "b.pt", resume=True)
    assert torch.equal(resumed.weight, reference.weight) and torch.equal(resumed.bias, reference.bias)
    assert history == ref_history and [h["step"] for h in history] == [10, 20, 30, 40]


def test_without_resume_a_checkpoint_is_ignored(tmp_path):
    _train(tmp_path / "c.pt", resume=False, total=20)
    model, history = _train(tmp_path / "c.pt", resume=False, total=20)
    assert [h["step"] for h in history] == [10, 20]


def test_checkpoint_missing_an_object_is_an_error(tmp_path):
    from reprolab.runtime.train import Checkpointer

    ck = Checkpointer(tmp_path / "x.pt")
    ck.save(1, {"model": torch.nn.Linear(1, 1)}, [])
    with pytest.raises(ValueError, match="no state for"):
        ck.load({"model": torch.nn.Linear(1, 1), "opt": torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), 0.1)})


def test_checkpointer_keeps_numpy_and_torch_generators(tmp_path):
    import numpy as np
    import torch

    from reprolab.runtime.train import Checkpointer

    rng, gen = np.random.default_rng(3), torch.Generator().manual_seed(4)
    Checkpointer(tmp_path / "g.pt").save(1, {"rng": rng, "gen": gen}, [])
    expected = (rng.random(), torch.rand(1, generator=gen))
    rng2, gen2 = np.random.default_rng(0), torch.Generator().manual_seed(0)
    Checkpointer(tmp_path / "g.pt").load({"rng": rng2, "gen": gen2})
    assert rng2.random() == expected[0] and torch.equal(torch.rand(1, generator=gen2), expected[1])


def stop_loop_at(monkeypatch, modules, loop: str, step: int):
    """Make the `run_loop` of `modules` raise `Interrupt` before step `step` of the loop whose checkpoint file is
    named `loop` (a process killed there); the other loops run as usual."""
    from pathlib import Path

    from reprolab.runtime import train

    def interrupted_loop(total, step_fn, **kwargs):
        if kwargs.get("checkpoint") is None or Path(kwargs["checkpoint"]).stem != loop:
            return train.run_loop(total, step_fn, **kwargs)

        def until_stopped(i):
            if i == step:
                raise Interrupt
            return step_fn(i)

        return train.run_loop(total, until_stopped, **kwargs)

    for module in modules:
        monkeypatch.setattr(module, "run_loop", interrupted_loop)


def test_loop_checkpoints_name_one_file_per_loop_and_none_without_a_period(tmp_path):
    from reprolab.runtime.train import LoopCheckpoints

    assert LoopCheckpoints(tmp_path, 5, True).of("IF") == {"checkpoint": tmp_path / "IF.pt", "checkpoint_every": 5,
                                                          "resume": True}
    assert LoopCheckpoints(tmp_path, 0).of("IF")["checkpoint"] is None
    assert LoopCheckpoints(None, 5).of("IF")["checkpoint"] is None
    with pytest.raises(ValueError, match="must be >= 0"):
        LoopCheckpoints(tmp_path, -1)


class Vector:
    """A tensor with `state_dict` / `load_state_dict`, as `run_loop` checkpoints objects."""

    def __init__(self, size: int):
        self.v = torch.zeros(size)

    def state_dict(self):
        return {"v": self.v}

    def load_state_dict(self, state):
        self.v.copy_(state["v"])


def _two_loops(folder, resume):
    """Two loops of 6 steps adding global-RNG draws to their own vector; the second draws where the first left the
    RNG. Returns both vectors and the loops whose steps ran."""
    from reprolab.runtime.train import LoopCheckpoints

    torch.manual_seed(0)
    where, ran, vectors = LoopCheckpoints(folder, 4, resume), [], {}
    for name in ("first", "second"):
        vectors[name] = Vector(3)

        def step(i, name=name):
            ran.append(name)
            vectors[name].v.add_(torch.rand(3))

        run_loop(6, step, objects={"v": vectors[name]}, progress=False, **where.of(name))
    return vectors["first"].v, vectors["second"].v, ran


def test_a_finished_loop_resumed_runs_no_step_and_the_next_loop_starts_where_it_started(tmp_path):
    ref_first, ref_second, _ = _two_loops(tmp_path, resume=False)
    (tmp_path / "second.pt").unlink()                  # interrupted before the second loop's first checkpoint
    first, second, ran = _two_loops(tmp_path, resume=True)
    assert ran == ["second"] * 6 and torch.equal(first, ref_first) and torch.equal(second, ref_second)
    assert not torch.equal(first, second)


def test_shuffled_batches_can_draw_from_the_callers_generator():
    from reprolab.runtime.train import ShuffledBatches

    gen = torch.Generator().manual_seed(3)
    batches = ShuffledBatches(5, 2, gen)
    drawn = [batches(0), torch.rand(1, generator=gen), batches(1), batches(2), batches(3)]
    ref = torch.Generator().manual_seed(3)
    first = torch.randperm(5, generator=ref)
    between = torch.rand(1, generator=ref)
    second = torch.randperm(5, generator=ref)
    assert torch.equal(drawn[0], first[:2]) and torch.equal(drawn[1], between)
    assert torch.equal(drawn[2], first[2:4]) and torch.equal(drawn[3], first[4:]) and torch.equal(drawn[4], second[:2])


def test_stop_loop_at_interrupts_only_the_named_loop(tmp_path, monkeypatch):
    import sys

    from reprolab.runtime.train import LoopCheckpoints

    stop_loop_at(monkeypatch, [sys.modules[__name__]], "b", 2)
    done = []
    where = LoopCheckpoints(tmp_path, 1)
    run_loop(3, done.append, progress=False, **where.of("a"))
    with pytest.raises(Interrupt):
        run_loop(3, done.append, progress=False, **where.of("b"))
    assert done == [0, 1, 2, 0, 1]
