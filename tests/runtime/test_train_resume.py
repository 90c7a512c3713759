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
