"""Spec 7 checks 1, 2 and 5, and the batched memory step against the per-sample implementation of the benchmark."""

import pytest
import torch

from benchmarks.dcw_mann import per_sample_step
from reprolab.methods.dcw_mann import memory as mem


def _random_state(batch, slots, word, heads, generator, dtype=torch.float64):
    """A valid memory state: weightings >= 0 summing to < 1, usage and precedence in [0, 1], L zero-diagonal."""
    def weights(*shape):
        w = torch.rand(*shape, generator=generator, dtype=dtype)
        return 0.9 * w / w.sum(-1, keepdim=True)
    link = torch.rand(batch, slots, slots, generator=generator, dtype=dtype) / slots
    return mem.MemoryState(memory=torch.randn(batch, slots, word, generator=generator, dtype=dtype),
                           usage=torch.rand(batch, slots, generator=generator, dtype=dtype),
                           precedence=weights(batch, slots),
                           link=link * (1 - torch.eye(slots, dtype=dtype)),
                           write_weighting=weights(batch, slots),
                           read_weightings=weights(batch, heads, slots),
                           read_vectors=torch.randn(batch, heads, word, generator=generator, dtype=dtype))


def _random_interface(batch, word, heads, generator, dtype=torch.float64):
    xi = 2 * torch.randn(batch, mem.interface_size(word, heads), generator=generator, dtype=dtype)
    return mem.parse_interface(xi, word, heads)


def test_interface_size_layout_and_ranges():
    """Check 1: W*R + 3W + 5R + 3 entries, in the official order, each part in its range."""
    word, heads, batch = 4, 2, 3
    assert mem.interface_size(word, heads) == word * heads + 3 * word + 5 * heads + 3 == 33
    xi = torch.arange(33, dtype=torch.float64).repeat(batch, 1)
    iface = mem.parse_interface(xi, word, heads)
    # read keys: the first W*R entries, word-major (entry w*R + r is word w of head r)
    assert iface.read_keys[0, 1].tolist() == [1.0, 3.0, 5.0, 7.0]
    assert iface.write_key[0].tolist() == [10.0, 11.0, 12.0, 13.0]          # after R read strengths (8, 9)
    assert torch.allclose(iface.write_vector[0], torch.arange(19, 23, dtype=torch.float64))   # after erase 15..18
    xi = torch.randn(batch, 33, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 5
    iface = mem.parse_interface(xi, word, heads)
    assert (iface.read_strengths >= 1).all() and (iface.write_strength >= 1).all()
    for gate in (iface.erase, iface.free_gates, iface.allocation_gate, iface.write_gate):
        assert ((gate > 0) & (gate < 1)).all()
    assert torch.allclose(iface.read_modes.sum(-1), torch.ones(batch, heads, dtype=torch.float64))
    # the modes are laid out mode-major: the 3R mode logits are [backward x R, content x R, forward x R]
    logits = torch.zeros(1, 33, dtype=torch.float64)
    logits[0, 27 + 1] = 50.0                   # backward mode of head 1
    assert mem.parse_interface(logits, word, heads).read_modes[0, 1].argmax() == 0
    with pytest.raises(ValueError, match="W\\*R \\+ 3W \\+ 5R \\+ 3"):
        mem.parse_interface(torch.zeros(1, 32), word, heads)


def test_weightings_are_sub_stochastic_and_the_link_stays_in_range():
    """Check 2 over 30 steps of random interfaces: w^w, w^r and a are >= 0 and sum to <= 1 + 1e-6; L has a zero
    diagonal and entries in [0, 1]."""
    generator = torch.Generator().manual_seed(1)
    state = mem.initial_state(4, 6, 5, 2)
    for _ in range(30):
        iface = _random_interface(4, 5, 2, generator, torch.float32)
        allocation = mem.allocation_weighting(mem.updated_usage(
            state.usage, state.write_weighting, mem.retention(state.read_weightings, iface.free_gates)))
        state = mem.step(state, iface)
        for w in (state.write_weighting, state.read_weightings, allocation):
            assert (w >= 0).all() and (w.sum(-1) <= 1 + 1e-6).all()
        assert (torch.diagonal(state.link, dim1=1, dim2=2) == 0).all()
        assert (state.link >= 0).all() and (state.link <= 1).all()
        assert ((state.usage >= 0) & (state.usage <= 1 + 1e-6)).all()


def test_allocation_of_a_known_usage():
    """a = (1 - u) in ascending usage order, times the usages before: u = [0.5, 0.1, 1.0] -> order 1, 0, 2."""
    a = mem.allocation_weighting(torch.tensor([[0.5, 0.1, 1.0]], dtype=torch.float64))
    assert torch.allclose(a, torch.tensor([[0.5 * 0.1, 0.9, 0.0]], dtype=torch.float64))


def test_hand_computed_two_slot_step_uses_old_precedence_and_new_link():
    """Check 5: slot 0 used and last written (u = [1, 0], p = [1, 0]); full write and allocation gates write slot 1
    (w^w = [0, 1]); the link then records 0 -> 1 from the OLD p (L[1, 0] = 1), and a forward read from slot 0
    follows the NEW link to slot 1 in the same step."""
    dt = torch.float64
    state = mem.MemoryState(memory=torch.tensor([[[1.0, 0.0], [0.0, 0.0]]], dtype=dt),
                            usage=torch.tensor([[1.0, 0.0]], dtype=dt), precedence=torch.tensor([[1.0, 0.0]], dtype=dt),
                            link=torch.zeros(1, 2, 2, dtype=dt), write_weighting=torch.zeros(1, 2, dtype=dt),
                            read_weightings=torch.tensor([[[1.0, 0.0]]], dtype=dt),
                            read_vectors=torch.zeros(1, 1, 2, dtype=dt))
    one = torch.ones(1, dtype=dt)
    iface = mem.Interface(read_keys=torch.zeros(1, 1, 2, dtype=dt), read_strengths=torch.ones(1, 1, dtype=dt),
                          write_key=torch.zeros(1, 2, dtype=dt), write_strength=one,
                          erase=torch.ones(1, 2, dtype=dt), write_vector=torch.tensor([[0.0, 3.0]], dtype=dt),
                          free_gates=torch.zeros(1, 1, dtype=dt), allocation_gate=one, write_gate=one,
                          read_modes=torch.tensor([[[0.0, 0.0, 1.0]]], dtype=dt))       # forward mode only
    new = mem.step(state, iface)
    assert new.write_weighting.tolist() == [[0.0, 1.0]]
    assert new.memory.tolist() == [[[1.0, 0.0], [0.0, 3.0]]]
    assert new.link.tolist() == [[[0.0, 0.0], [1.0, 0.0]]]          # L[1, 0] = w^w[1] p_old[0]
    assert new.precedence.tolist() == [[0.0, 1.0]]
    assert new.read_weightings.tolist() == [[[0.0, 1.0]]]          # f = L_new w^r_old: slot 0 -> slot 1
    assert new.read_vectors.tolist() == [[[0.0, 3.0]]]
    protected = mem.step(state, iface, write_protected=True)
    for name in ("memory", "usage", "precedence", "link", "write_weighting"):
        assert getattr(protected, name) is getattr(state, name)
    assert protected.read_weightings.tolist() == [[[0.0, 0.0]]]    # the old, empty link leads nowhere


@pytest.mark.parametrize("write_protected", [False, True])
def test_batched_step_equals_the_per_sample_equations(write_protected):
    generator = torch.Generator().manual_seed(2)
    state = _random_state(5, 7, 4, 2, generator)
    iface = _random_interface(5, 4, 2, generator)
    batched, reference = mem.step(state, iface, write_protected), per_sample_step(state, iface, write_protected)
    for name in mem.MemoryState._fields:
        assert torch.allclose(getattr(batched, name), getattr(reference, name), atol=1e-12), name


@pytest.mark.slow
@pytest.mark.parametrize("write_protected", [False, True])
def test_compiled_step_equals_the_eager_step_with_its_gradients(write_protected):
    """TorchInductor's fused kernels round differently, so float32 values and the gradients through three steps
    agree to rounding, not bit for bit (slow: the first call compiles for tens of seconds)."""
    generator = torch.Generator().manual_seed(3)
    start = mem.MemoryState(*(t.float() for t in _random_state(6, 16, 32, 1, generator)))
    xi = 2 * torch.randn(3, 6, mem.interface_size(32, 1), generator=generator)
    results = []
    for step in (mem.step, mem.compiled_step()):
        leaf = xi.clone().requires_grad_(True)
        state = start
        for t in range(3):
            state = step(state, mem.parse_interface(leaf[t], 32, 1), write_protected and t > 0)
        loss = (state.read_vectors ** 2).sum() + state.memory.sum() + state.usage.sum()
        loss.backward()
        results.append((state, leaf.grad))
    (eager, eager_grad), (fused, fused_grad) = results
    for name in mem.MemoryState._fields:
        assert torch.allclose(getattr(fused, name), getattr(eager, name), rtol=1e-5, atol=1e-6), name
    assert torch.allclose(fused_grad, eager_grad, rtol=1e-4, atol=1e-5)
    assert fused_grad.abs().sum() > 0
