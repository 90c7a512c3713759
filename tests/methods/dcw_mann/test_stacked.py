"""Seeds as a batch dimension (`stacked`): S memory models or S LSTM seq2seqs trained in one stacked pass equal S
separate `train` runs (the same batches; logits, losses, weights, histories and selections to float tolerance), and
decoded in one stacked pass give each model's own predictions; the budget's test predictions are decoded only when
its selection differs from the best."""

import random

import numpy as np
import pytest
import torch

from reprolab.methods.dcw_mann.experiment import budget_predictions, seed_predictions
from reprolab.methods.dcw_mann.log import Pairs
from reprolab.methods.dcw_mann.model import MemoryEncoderDecoder, ModelConfig
from reprolab.methods.dcw_mann.seq2seq import Seq2SeqAttention, Seq2SeqConfig
from reprolab.methods.dcw_mann.stacked import (StackedMemoryModels, seed_losses, stacked_batch, stacked_models,
                                               stacked_predict, train_seeds)
from reprolab.methods.dcw_mann.training import (Selection, TrainConfig, encode_prefixes, encode_targets,
                                                masked_cross_entropy, predict, train)

VOCAB = 8                                       # 6 activities + PAD/EOS + GO
SMALL = dict(slots=5, word_size=4, read_heads=2, hidden=12)
SEEDS = (0, 1, 2)


def _pairs(n: int, seed: int, longest: int = 7) -> Pairs:
    """Random prefixes of 1 to `longest` activities (ids 1-6) with suffixes of 0 to `longest` - 2."""
    rng = random.Random(seed)
    prefixes = [tuple(rng.randint(1, 6) for _ in range(rng.randint(1, longest))) for _ in range(n)]
    suffixes = [tuple(rng.randint(1, 6) for _ in range(rng.randint(0, longest - 2))) for _ in range(n)]
    return Pairs(tuple(prefixes), tuple(suffixes), tuple(range(n)))


def _models(variant: str, **kwargs) -> list[MemoryEncoderDecoder | Seq2SeqAttention]:
    out = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        if variant == "lstm_seq2seq":
            out.append(Seq2SeqAttention(VOCAB, Seq2SeqConfig(hidden=6, **kwargs), decode_steps=12))
        else:
            out.append(MemoryEncoderDecoder(VOCAB, ModelConfig(variant=variant, **{**SMALL, **kwargs})))
    return out


VARIANTS = [("dcw_mann", {}), ("dc_mann", {"tf_lstm_cell": True}), ("dnc", {}), ("lstm_shared", {}),
            ("dcw_mann", {"mask_encoder_padding": True}), ("lstm_seq2seq", {}),
            ("lstm_seq2seq", {"shared_directions": False, "tf_lstm_cell": True})]


@pytest.mark.parametrize("variant,kwargs", VARIANTS)
def test_stacked_logits_equal_each_models_own_on_its_own_batch(variant, kwargs):
    """Seed s's stacked logits (its batch padded further to the longest over seeds) equal its model's logits on its
    own batch, and each seed's loss equals `masked_cross_entropy`."""
    models = _models(variant, **kwargs)
    batches = [_pairs(6, seed, longest=3 + 2 * seed) for seed in SEEDS]
    prefix, starts, targets, mask = stacked_batch(batches, "cpu")
    assert len(set(starts)) > 1                   # the seeds' batches have different longest prefixes
    stacked = stacked_models(models)(prefix, starts, targets.shape[2], targets=targets)
    losses = seed_losses(stacked, targets, mask)
    for s, (model, batch) in enumerate(zip(models, batches)):
        own_targets, own_mask = encode_targets(batch.suffixes)
        own = model(encode_prefixes(batch.prefixes), own_targets.shape[1], targets=own_targets)
        assert torch.allclose(stacked[s, :, :own.shape[1]], own, atol=1e-5), s
        assert torch.allclose(losses[s], masked_cross_entropy(own, own_targets, own_mask), atol=1e-6)


@pytest.mark.parametrize("variant,lr,clip", [("dcw_mann", 0.002, 10.0), ("lstm_seq2seq", 0.001, 0.0)])
def test_stacked_training_equals_separate_runs(variant, lr, clip):
    """Check: 30 iterations of 3 DCw-MANN (or LSTM seq2seq) seeds, stacked against one `train` per seed: the same
    weights (to float tolerance), validation histories and selected iterations, also for the budget selection."""
    cfg = TrainConfig(iterations=30, batch_size=8, eval_every=10, max_decode=6, lr=lr, clip_value=clip)
    train_pairs, val_pairs = _pairs(60, 10), _pairs(12, 11)
    separate, stacked = _models(variant), _models(variant)
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


def test_stacked_seeds_refuse_selections_of_different_budgets():
    """One evaluation schedule serves every stacked seed: budgets 10 and 15 would evaluate (and could select) each
    seed at the other's budget, which its own `train` run never does."""
    cfg = TrainConfig(iterations=30, batch_size=8, eval_every=10, max_decode=6)
    models = _models("dcw_mann")
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    with pytest.raises(ValueError, match=r"one budget; got budgets by seed \{0: 10, 1: 15, 2: 10\}"):
        train_seeds(models, _pairs(60, 10), _pairs(12, 11), None, cfg, SEEDS,
                    selections=[Selection(m, budget=b) for m, b in zip(models, (10, 15, 10))])
    with pytest.raises(ValueError, match="2 selections for 3 seeds"):
        train_seeds(models, _pairs(60, 10), _pairs(12, 11), None, cfg, SEEDS,
                    selections=[Selection(m, budget=10) for m in models[:2]])
    assert all(torch.equal(b[k], v) for m, b in zip(models, before) for k, v in m.state_dict().items())  # untrained


def test_stacking_refuses_models_of_different_configs():
    with pytest.raises(ValueError, match="one config"):
        StackedMemoryModels(_models("dcw_mann") + _models("dnc"))


@pytest.mark.parametrize("variant,kwargs", VARIANTS)
@pytest.mark.parametrize("official", [False, True])
def test_stacked_predictions_equal_each_models_own(variant, kwargs, official):
    """One stacked decoding of the same prefixes gives every seed's model its own greedy predictions (`predict`),
    in the default batches of one length and in the official padded blocks of 10."""
    models = _models(variant, **kwargs)
    pairs = _pairs(45, 12)
    own = [predict(model, pairs.prefixes, 6, 7, official=official) for model in models]
    assert stacked_predict(stacked_models(models), pairs.prefixes, 6, 7, official=official) == own
    assert seed_predictions(models, pairs, 6, TrainConfig(eval_batch=7), "cpu", official) == own
    assert len({tuple(map(tuple, p)) for p in own}) > 1                     # the seeds' models predict differently


def test_stacked_predictions_decode_to_each_batchs_longest_suffix_as_each_models_own():
    """With the true suffixes (`TrainConfig.decode_to_longest_target`), one stacked decoding gives every seed's
    model its own predictions, which differ from those cut at `max_decode` (3)."""
    models = _models("dcw_mann")
    pairs = _pairs(45, 12)
    for official in (False, True):
        own = [predict(model, pairs.prefixes, 3, 7, official=official, suffixes=pairs.suffixes) for model in models]
        assert stacked_predict(stacked_models(models), pairs.prefixes, 3, 7, official=official,
                               suffixes=pairs.suffixes) == own
        assert seed_predictions(models, pairs, 3, TrainConfig(eval_batch=7, decode_to_longest_target=True), "cpu",
                                official) == own
        assert own != [predict(model, pairs.prefixes, 3, 7, official=official) for model in models]


def test_budget_predictions_decode_only_where_the_budget_selected_another_evaluation():
    """A seed whose budget selection is its best selection reuses the best weights' predictions (no decoding);
    another is decoded with its budget weights, and its model keeps the best weights."""
    models = _models("dcw_mann")
    selections = [Selection(model, budget=10) for model in models]
    for selection in selections:
        selection.offer({"val_dl_similarity": 0.5}, 10, False)
    with torch.no_grad():
        models[1].encoder.output.weight.mul_(-1.0)
    selections[1].offer({"val_dl_similarity": 0.6}, 20, False)             # seed 1: best at 20, budget at 10
    test = _pairs(30, 13)
    data = type("Data", (), {"test": test, "max_decode": 6})()
    cfg = TrainConfig(eval_batch=7)
    preds = seed_predictions(models, test, 6, cfg, "cpu")
    budget = budget_predictions(models, selections, preds, data, cfg, "cpu")
    assert budget[0] is preds[0] and budget[2] is preds[2]
    assert predict(models[1], test.prefixes, 6, 7) == preds[1]                # the model keeps its best weights
    at_budget = _models("dcw_mann")[1]
    at_budget.load_state_dict(selections[1].within_budget.state)
    assert budget[1] == predict(at_budget, test.prefixes, 6, 7) != preds[1]
    assert budget_predictions(models, [Selection(m) for m in models], preds, data, cfg, "cpu") == [None] * 3


def test_training_reads_values_only_at_evaluations(loop_reads):
    """`train` and `train_seeds` keep each step's loss on its device: 100 iterations with one evaluation (whose
    greedy decoding reads about 20 values) read far fewer than one value a step (progress off; Adam's step counter,
    a CPU tensor, left out of the count)."""
    cfg = TrainConfig(iterations=100, batch_size=8, eval_every=100, max_decode=6)
    counts = []
    for run in (lambda: train(_models("dcw_mann")[0], _pairs(60, 10), _pairs(12, 11), None, cfg, 0),
                lambda: train_seeds(_models("dcw_mann"), _pairs(60, 10), _pairs(12, 11), None, cfg, SEEDS)):
        loop_reads.clear()
        run()
        counts.append(len(loop_reads))
    assert max(counts) <= 100 / 50 + 40, counts
