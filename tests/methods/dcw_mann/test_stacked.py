"""Seeds as a batch dimension (`stacked`): S memory models trained in one stacked pass equal S separate `train`
runs (the same batches; weights, histories and selections to float tolerance)."""

import random

import numpy as np
import pytest
import torch

from reprolab.methods.dcw_mann.log import Pairs
from reprolab.methods.dcw_mann.model import MemoryEncoderDecoder, ModelConfig
from reprolab.methods.dcw_mann.stacked import StackedMemoryModels, seed_losses, stacked_batch, train_seeds
from reprolab.methods.dcw_mann.training import (Selection, TrainConfig, encode_prefixes, encode_targets,
                                                masked_cross_entropy, train)

VOCAB = 8                                       # 6 activities + PAD/EOS + GO
SMALL = dict(slots=5, word_size=4, read_heads=2, hidden=12)
SEEDS = (0, 1, 2)


def _pairs(n: int, seed: int, longest: int = 7) -> Pairs:
    """Random prefixes of 1 to `longest` activities (ids 1-6) with suffixes of 0 to `longest` - 2."""
    rng = random.Random(seed)
    prefixes = [tuple(rng.randint(1, 6) for _ in range(rng.randint(1, longest))) for _ in range(n)]
    suffixes = [tuple(rng.randint(1, 6) for _ in range(rng.randint(0, longest - 2))) for _ in range(n)]
    return Pairs(tuple(prefixes), tuple(suffixes), tuple(range(n)))


def _models(variant: str, **kwargs) -> list[MemoryEncoderDecoder]:
    out = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        out.append(MemoryEncoderDecoder(VOCAB, ModelConfig(variant=variant, **{**SMALL, **kwargs})))
    return out


@pytest.mark.parametrize("variant,kwargs", [("dcw_mann", {}), ("dc_mann", {"tf_lstm_cell": True}), ("dnc", {}),
                                            ("lstm_shared", {}), ("dcw_mann", {"mask_encoder_padding": True})])
def test_stacked_logits_equal_each_models_own_on_its_own_batch(variant, kwargs):
    """Seed s's stacked logits (its batch padded further to the longest over seeds) equal its model's logits on its
    own batch, and each seed's loss equals `masked_cross_entropy`."""
    models = _models(variant, **kwargs)
    batches = [_pairs(6, seed, longest=3 + 2 * seed) for seed in SEEDS]
    prefix, starts, targets, mask = stacked_batch(batches, "cpu")
    assert len(set(starts.tolist())) > 1                   # the seeds' batches have different longest prefixes
    stacked = StackedMemoryModels(models)(prefix, starts, targets.shape[2], targets=targets)
    losses = seed_losses(stacked, targets, mask)
    for s, (model, batch) in enumerate(zip(models, batches)):
        own_targets, own_mask = encode_targets(batch.suffixes)
        own = model(encode_prefixes(batch.prefixes), own_targets.shape[1], targets=own_targets)
        assert torch.allclose(stacked[s, :, :own.shape[1]], own, atol=1e-5), s
        assert torch.allclose(losses[s], masked_cross_entropy(own, own_targets, own_mask), atol=1e-6)


def test_stacked_training_equals_separate_runs():
    """Check: 30 iterations of 3 DCw-MANN seeds, stacked against one `train` per seed: the same weights (to float
    tolerance), validation histories and selected iterations, also for the budget selection."""
    cfg = TrainConfig(iterations=30, batch_size=8, eval_every=10, max_decode=6)
    train_pairs, val_pairs = _pairs(60, 10), _pairs(12, 11)
    separate, stacked = _models("dcw_mann"), _models("dcw_mann")
    records = [train(m, train_pairs, val_pairs, None, cfg, seed, selection=Selection(m, budget=15))
               for m, seed in zip(separate, SEEDS)]
    together = train_seeds(stacked, train_pairs, val_pairs, None, cfg, SEEDS,
                           selections=[Selection(m, budget=15) for m in stacked])
    for a, b, ra, rb in zip(separate, stacked, records, together):
        assert [h["step"] for h in ra["history"]] == [h["step"] for h in rb["history"]] == [10, 15, 20, 30]
        assert np.allclose([h["val_dl_similarity"] for h in ra["history"]],
                           [h["val_dl_similarity"] for h in rb["history"]])
        assert (ra["selected_iteration"], ra["budget_selected_iteration"]) == (
            rb["selected_iteration"], rb["budget_selected_iteration"])
        for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.allclose(pa, pb, atol=1e-4), name


def test_stacking_refuses_models_of_different_configs():
    with pytest.raises(ValueError, match="one config"):
        StackedMemoryModels(_models("dcw_mann") + _models("dnc"))
