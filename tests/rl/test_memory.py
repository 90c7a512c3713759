import numpy as np
import pytest
import torch

from reprolab.rl.memory import DISTANCE_EPS, EpisodicMemory


def _memory(**kw):
    mem = EpisodicMemory(2, capacity=5, k=3, **kw)
    mem.insert(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0]]), torch.tensor([1.0, 2.0, 3.0, 4.0]))
    return mem


def test_read_is_the_inverse_squared_distance_average():
    mem = _memory()
    q = torch.tensor([[0.5, 0.0]])
    idx, w = mem.neighbours(q)
    assert torch.allclose(w.sum(1), torch.ones(1)) and sorted(idx[0].tolist()) == [0, 1, 2]
    d = torch.tensor([0.25, 0.25, 4.25])          # squared distances to keys 0, 1, 2
    inv = 1 / (d + DISTANCE_EPS)
    expected = (inv / inv.sum() * torch.tensor([1.0, 2.0, 3.0])).sum()
    assert mem.read(q).item() == pytest.approx(expected.item(), rel=1e-6)


def test_k1_reads_back_what_was_inserted():
    mem = EpisodicMemory(3, k=1)
    keys = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
    mem.insert(keys, torch.arange(20.0))
    assert torch.equal(mem.read(keys), torch.arange(20.0))


def test_write_moves_values_by_the_stated_step():
    mem = _memory()
    before = mem.values.clone()
    q = torch.tensor([[0.5, 0.0]])
    idx, w = mem.neighbours(q)
    mem.write(q, torch.tensor([10.0]))
    expected = before.clone()
    expected[idx[0]] += 0.5 * w[0] * (10.0 - before[idx[0]])
    assert torch.allclose(mem.values, expected) and mem.values[3] == before[3]  # the non-neighbour is untouched


def test_fifo_capacity_duplicates_and_fewer_than_k_entries():
    mem = _memory()
    assert mem.insert(torch.tensor([[1.0, 0.0]]), torch.tensor([9.0])) == 0   # duplicate key skipped
    mem.insert(torch.tensor([[5.0, 5.0], [6.0, 6.0]]), torch.tensor([5.0, 6.0]))
    assert len(mem) == 5 and mem.values.tolist() == [6.0, 2.0, 3.0, 4.0, 5.0]  # the oldest entry was replaced
    small = EpisodicMemory(2, k=7)
    small.insert(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), torch.tensor([1.0, 3.0]))
    assert small.neighbours(torch.zeros(1, 2))[0].shape == (1, 2)


def test_max_read_quirk():
    mem = _memory(max_read_prob=1.0)
    assert mem.read(torch.tensor([[0.5, 0.0]]), np.random.default_rng(0)).item() == 3.0  # max of neighbours 1, 2, 3


def test_bad_input_is_named():
    mem = _memory()
    with pytest.raises(ValueError, match="keys must be \\(B, 2\\)"):
        mem.read(torch.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        mem.insert(torch.tensor([[float("nan"), 0.0]]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="empty"):
        EpisodicMemory(2).read(torch.zeros(1, 2))
    with pytest.raises(ValueError, match="2 keys but 1 returns"):
        mem.insert(torch.zeros(2, 2), torch.zeros(1))


def test_faiss_and_torch_search_agree():
    gen = torch.Generator().manual_seed(1)
    keys, values, queries = torch.randn(3000, 8, generator=gen), torch.randn(3000, generator=gen), torch.randn(
        50, 8, generator=gen)
    reads = []
    for index in ("torch", "faiss"):
        mem = EpisodicMemory(8, capacity=5000, k=7, index=index)
        mem.insert(keys, values)
        idx, w = mem.neighbours(queries)
        reads.append((idx, w, mem.read(queries)))
    assert torch.equal(reads[0][0], reads[1][0])
    assert torch.allclose(reads[0][1], reads[1][1], atol=1e-4) and torch.allclose(reads[0][2], reads[1][2], atol=1e-4)


def test_l2_distance_weights_by_the_plain_distance():
    mem = _memory(distance="l2")
    q = torch.tensor([[0.5, 0.0]])
    inv = 1 / (torch.tensor([0.5, 0.5, 4.25 ** 0.5]) + DISTANCE_EPS)
    expected = (inv / inv.sum() * torch.tensor([1.0, 2.0, 3.0])).sum()
    assert mem.read(q).item() == pytest.approx(expected.item(), rel=1e-6)


def test_state_dict_round_trip():
    mem = _memory()
    copy = EpisodicMemory(2, capacity=5, k=3)
    copy.load_state_dict(mem.state_dict())
    q = torch.tensor([[0.3, 0.7]])
    assert len(copy) == 4 and torch.equal(copy.read(q), mem.read(q))
    copy.insert(torch.tensor([[9.0, 9.0]]), torch.tensor([1.0]))
    assert copy.values[4] == 1.0
    with pytest.raises(ValueError, match="does not fit"):
        EpisodicMemory(3, capacity=5).load_state_dict(mem.state_dict())


def test_bulk_insert_keeps_fifo_order_and_skips_duplicates_within_a_batch():
    mem = EpisodicMemory(1, capacity=4, k=1)
    assert mem.insert(torch.tensor([[1.0], [2.0], [1.0]]), torch.tensor([10.0, 20.0, 30.0])) == 2
    assert mem.insert(torch.tensor([[3.0], [4.0], [5.0]]), torch.tensor([3.0, 4.0, 5.0])) == 3  # evicts key 1
    assert sorted(mem.keys[:, 0].tolist()) == [2.0, 3.0, 4.0, 5.0]
    assert mem.insert(torch.tensor([[1.0]]), torch.tensor([7.0])) == 1        # 1 was evicted: new again
    assert mem.read(torch.tensor([[1.0]])).item() == 7.0
    big = EpisodicMemory(1, capacity=3, k=1)
    assert big.insert(torch.arange(5.0).unsqueeze(1), torch.arange(5.0)) == 3  # only the last three survive
    assert sorted(big.keys[:, 0].tolist()) == [2.0, 3.0, 4.0]
    assert big.insert(torch.tensor([[4.0]]), torch.tensor([0.0])) == 0


def test_max_read_quirk_is_drawn_once_per_read_call():
    mem = _memory(max_read_prob=0.5)
    keys = torch.tensor([[0.5, 0.0], [0.4, 0.1], [0.6, 0.0]])
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(20):
        out = mem.read(keys, rng)
        plain = mem.read(keys)
        maxed = mem.neighbours(keys)[0]
        is_max = torch.isclose(out, mem.values[maxed].max(dim=1).values)
        assert bool(is_max.all()) or torch.allclose(out, plain)       # the whole batch one way or the other
        kinds.add(bool(is_max.all()))
    assert kinds == {True, False}
