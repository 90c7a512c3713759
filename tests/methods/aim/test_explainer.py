"""AIM's parts (spec 7 and the issue's tests): the Concrete temperature, PAD never ranked, one pass for every
class, the deletion protocol, brevity's official bug, the black-box adapters and bad input, and a synthetic task
whose true positions AIM must recover."""

import dataclasses
import math

import pytest
import torch

from reprolab.methods.aim.baselines import (L2X, L2XConfig, RowRMSprop, kernel_shap_scores, l2x_mask, lime_scores,
                                            lime_weights)
from reprolab.methods.aim.blackbox import (BlackBoxConfig, WordCNN, balanced_offsets, callable_black_box,
                                           embedding_black_box, image_black_box, train_word_cnn)
from reprolab.methods.aim.corpus import Vocabulary, tokenize
from reprolab.methods.aim.explainer import AIM, AIMConfig, l21_norm, mean_batch_accuracy
from reprolab.methods.aim.experiment import lime_ranking_scores
from reprolab.methods.aim.metrics import (OFFICIAL, Protocol, deletion_scores, keep_items, keep_word_types, log_odds,
                                          pad_share, remove_items, remove_word_types, top_k, top_word_types)
from reprolab.methods.aim.modules import Explainer, FeatureKind, ModuleSizes, concrete_mask
from reprolab.methods.aim.wordnet import brevity, purity, wordnet_available
from reprolab.runtime.config import ConfigError
from tests.methods.aim import synthetic

SMALL = ModuleSizes(embed=16, selector_hidden=16, explainer_hidden=32, approximator_hidden=32)
TOKENS = FeatureKind(vocab=synthetic.VOCAB)


def test_concrete_temperature_matters_and_the_official_sampler_cancels_it():
    """The clean sampler sharpens as tau falls; the official one gives the same Z at any tau (a regression test
    of the bug `official_concrete` reproduces)."""
    pi = torch.full((2000,), 0.3)
    samples = {}
    for official in (False, True):
        for tau in (0.1, 5.0):
            torch.manual_seed(0)
            samples[official, tau] = concrete_mask(pi, tau, official)
    assert torch.allclose(samples[True, 0.1], samples[True, 5.0])
    assert not torch.allclose(samples[False, 0.1], samples[False, 5.0])
    sharp = lambda z: ((z < 0.05) | (z > 0.95)).float().mean()          # noqa: E731
    assert sharp(samples[False, 0.1]) > 0.8 > 0.2 > sharp(samples[False, 5.0])
    assert abs((samples[False, 0.1] > 0.5).float().mean() - 0.3) < 0.04    # still Bernoulli(pi) in the limit


def test_pad_is_never_ranked_unless_the_official_flag_asks():
    x = torch.tensor([[5, 6, 0, 0]])
    scores = torch.tensor([[0.1, 0.2, 9.0, 8.0]])
    assert top_k(scores, x != 0, 2).tolist() == [[1, 0]]
    assert top_k(scores, x != 0, 3).tolist() == [[1, 0, -1]]               # fewer real tokens than K
    assert top_k(scores, x != 0, 2, rank_padding=True).tolist() == [[2, 3]]
    with pytest.raises(ValueError, match="K larger than the sequence"):
        top_k(scores, x != 0, 5)


def test_deletion_protocol_known_answer():
    x = torch.tensor([[5, 6, 7, 8, 0, 0]])
    positions = torch.tensor([[2, 0]])
    assert keep_items(x, positions, TOKENS).tolist() == [[5, 7, 0, 0, 0, 0]]               # original order
    assert keep_items(x, positions, TOKENS, order="rank").tolist() == [[7, 5, 0, 0, 0, 0]]  # official
    assert remove_items(x, positions, TOKENS).tolist() == [[6, 8, 0, 0, 0, 0]]             # left-packed
    assert log_odds(torch.tensor([1.0]), official=True).item() == 0.0
    assert log_odds(torch.tensor([1.0])).item() == pytest.approx(13.8155, abs=1e-3)     # clamped at 1 - 1e-6


def test_deletion_scores_on_the_rule_black_box():
    """Keeping the trigger keeps the label (faithful, keep score ~ 0); removing it flips the rule's output."""
    x, labels, where = synthetic.items(20)
    box = synthetic.black_box()
    scores = deletion_scores(box, x, where.view(-1, 1), TOKENS)
    assert scores["faithful"].tolist() == [1.0] * 20
    assert (abs(scores["keep"]) < 1e-4).all() and (scores["removal"] > 2).all()


def test_one_pass_gives_every_class_and_each_column_depends_on_its_own_token():
    torch.manual_seed(0)
    explainer = Explainer(TOKENS, 3, SMALL)
    x = torch.tensor([[5, 6, 7, 8]])
    w = explainer(x)
    assert w.shape == (1, 3, 4)
    changed = explainer(torch.tensor([[5, 9, 7, 8]]))
    assert torch.equal(w[..., [0, 2, 3]], changed[..., [0, 2, 3]]) and not torch.equal(w[..., 1], changed[..., 1])


def test_the_explainer_runs_its_mlp_once_per_distinct_token_with_the_same_values_and_gradients():
    """Reference: the MLP at every position. W_x and the gradients of a loss on it agree to float rounding."""
    torch.manual_seed(0)
    explainer = Explainer(TOKENS, 3, SMALL)
    x, _, _ = synthetic.items(30, seed=8)
    weights = torch.randn(30, 3, 12)
    fast = explainer(x)
    (fast * weights).sum().backward()
    fast_grads = [p.grad.clone() for p in explainer.parameters()]
    explainer.zero_grad()
    reference = explainer.mlp(explainer.encode(x)).transpose(1, 2)
    (reference * weights).sum().backward()
    assert torch.allclose(fast, reference, atol=1e-6)
    assert all(torch.allclose(a, p.grad, atol=1e-5) for a, p in zip(fast_grads, explainer.parameters()))


def test_word_cnn_unpadded_probabilities_equal_its_forward():
    """Items of every length (no all-PAD window, one, many; an all-PAD row), chunks cut mid-length: the same
    probabilities as the forward over all L positions; the black box uses them and train mode is refused."""
    torch.manual_seed(0)
    model = WordCNN(synthetic.VOCAB, 3, embed=8, widths=(3, 5), filters=6).eval()
    x = torch.randint(2, synthetic.VOCAB, (40, 12))
    for row, end in enumerate(torch.randint(0, 13, (40,)).tolist()):
        x[row, end:] = 0
    x[0], x[1, 11], x[2, 3:] = 0, 5, 0                              # all PAD; a token at the last position
    reference = model(x)
    for chunk in (1, 7, 64):
        assert torch.allclose(model.unpadded_probs(x, chunk), reference, atol=1e-6)
    assert torch.allclose(embedding_black_box(model).probs(x), reference, atol=1e-6)
    with pytest.raises(ValueError, match="eval"):
        model.train().unpadded_probs(x)


def test_l21_norm_over_class_rows_or_feature_columns():
    w = torch.tensor([[[3.0, 4.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]])          # (B 2, C 2, L 2)
    assert l21_norm(w, "class").item() == pytest.approx(5 + 0 + 1 + 1)
    assert l21_norm(w, "feature").item() == pytest.approx(3 + 4 + 1 + 1)


@pytest.mark.skipif(not wordnet_available(), reason="WordNet (Debian package wordnet-base) is not installed")
def test_brevity_official_bug_is_a_flag_and_purity_counts_stopwords():
    tokens = ["good", "great", "film", "movie", "xyzzy", "qwrtz"]
    fixed, buggy = brevity(tokens), brevity(tokens, official_bug=True)
    assert buggy == 2 + 1                 # two unknown tokens + one head for every known token
    assert fixed == 4                     # good+great, film+movie, and the two unknown ones
    assert purity(["the", ",", "good", "the"], 4) == 0.5


@pytest.fixture(scope="module")
def trained():
    x, labels, where = synthetic.items(800, seed=1)
    cfg = AIMConfig(sizes=SMALL, epochs=10, batch_size=50)
    aim = AIM(synthetic.black_box(), 2, TOKENS, cfg, seed=0).fit(x[:700], x[700:])
    return aim


def test_aim_recovers_the_true_positions_of_a_synthetic_task(trained):
    """Known answer: the trigger is the feature AIM ranks first for the black box's label."""
    x, labels, where = synthetic.items(200, seed=2)
    explanation = trained.explain(x, 1)
    assert explanation.weights.shape == (200, 2, 12)
    hit = (explanation.positions[:, 0] == where).float().mean()
    assert hit >= 0.9
    adaptive = trained.explain_adaptive(x, k_max=3)
    assert adaptive["max_k_star"] <= 4 and adaptive["max_queries"] <= 4 and adaptive["faithful"] >= 0.9


def pad_flips_the_label(ids: torch.Tensor) -> torch.Tensor:
    """Class 0 for an item without PAD, class 1 as soon as one position is PAD."""
    has_pad = (ids == 0).any(1).float()
    return torch.stack([1 - has_pad, has_pad], 1) * 0.98 + 0.01


def test_adaptive_rule_stops_by_k_max_plus_one_with_as_many_queries():
    """Spec check 7, a property of the loop (so a test, not a claim): when no top-j subset of a full item keeps its
    label, every item costs exactly K_max + 1 queries and gets K* = 0; with K_max + 1 > L the loop ends at j = L,
    whose subset is the whole item (the label is kept: K* = L)."""
    x = torch.randint(2, synthetic.VOCAB, (5, 12), generator=torch.Generator().manual_seed(0))
    aim = AIM(callable_black_box(pad_flips_the_label), 2, TOKENS, AIMConfig(sizes=SMALL))
    bounded = aim.explain_adaptive(x, k_max=3)
    assert bounded["queries"] == [4] * 5 and bounded["k_star"] == [0] * 5 and bounded["faithful"] == 0.0
    assert (bounded["max_k_star"], bounded["max_queries"]) == (0, 4)
    whole = aim.explain_adaptive(x, k_max=20)
    assert whole["queries"] == [12] * 5 and whole["k_star"] == [12] * 5 and whole["faithful"] == 1.0


def seeded_results(seed: int) -> dict[str, torch.Tensor]:
    """AIM's weights, L2X's scores, Kernel SHAP's scores and a black box's logits after seeded training on a small
    synthetic task, each checked to leave the global torch RNG as it found it."""
    x, labels, _ = synthetic.items(120, seed=4)
    box, word_cnn = synthetic.black_box(), BlackBoxConfig(embed=8, filters=4, epochs=1)
    out = {}
    runs = {"aim": lambda: AIM(box, 2, TOKENS, AIMConfig(sizes=SMALL, epochs=1, batch_size=40), seed=seed)
            .fit(x[:80], x[80:]).weights(x[:10]),
            "l2x": lambda: L2X(box, synthetic.VOCAB, 2, 1, L2XConfig(embed=8, filters=8, hidden=8, epochs=1),
                               seed).fit(x[:80]).scores(x[:10]),
            "kernel_shap": lambda: kernel_shap_scores(box, x[:3], labels[:3], 20, seed),
            "black_box": lambda: train_word_cnn(x, labels, 2, synthetic.VOCAB, word_cnn, seed).logits(x[:10])}
    for name, run in runs.items():
        before = torch.get_rng_state()
        out[name] = run().detach()
        assert torch.equal(torch.get_rng_state(), before), f"{name} changed the global torch RNG"
    return out


def test_seeded_apis_repeat_whatever_the_caller_drew_and_leave_the_global_rng_alone():
    first = seeded_results(3)
    torch.rand(7)                                                   # the caller's own draws in between
    again, other = seeded_results(3), seeded_results(4)
    for name in first:
        assert torch.equal(first[name], again[name]), name
        assert not torch.equal(first[name], other[name]), name


def test_lime_and_kernel_shap_find_the_trigger_and_l2x_masks_are_k_hot_at_most():
    x, labels, where = synthetic.items(6, seed=3)
    box = synthetic.black_box()
    lime = lime_weights(box, x, 2, 200, 0)
    assert lime.shape == (6, 2, 12)
    assert torch.equal(lime_scores(box, x, labels, 200, 0), lime[torch.arange(6), labels])    # one LIME run
    for scores in (lime[torch.arange(6), labels], kernel_shap_scores(box, x, labels, 100, 0)):
        assert top_k(scores, x != 0, 1)[:, 0].tolist() == where.tolist()
    mask = l2x_mask(torch.randn(4, 10), 3, 0.5)
    assert ((mask >= 0) & (mask <= 1)).all() and (mask.sum(1) <= 3 + 1e-5).all()


def test_black_box_adapters_and_bad_input():
    torch.manual_seed(0)
    model = WordCNN(20, 2, embed=8, filters=4)
    box = embedding_black_box(model)
    x = torch.tensor([[3, 4, 5, 6, 7, 0]])
    assert torch.allclose(box.masked_probs(x, torch.ones(1, 6)), box.probs(x))
    assert not torch.allclose(box.masked_probs(x, torch.zeros(1, 6)), box.probs(x))
    assert not model.embedding._forward_hooks                           # the hook is removed again
    logits = callable_black_box(lambda ids: torch.randn(len(ids), 2))
    with pytest.raises(ValueError, match="logits"):
        logits.probs(x)
    pad_seen = []
    callable_black_box(lambda ids: pad_seen.append(ids) or torch.full((len(ids), 2), 0.5)).masked_probs(
        x, torch.tensor([[1.0, 0.2, 1.0, 0.0, 0.9, 1.0]]))
    assert pad_seen[0].tolist() == [[3, 0, 5, 0, 7, 0]]
    aim = AIM(box, 2, FeatureKind(vocab=20), AIMConfig(sizes=SMALL))
    with pytest.raises(ValueError, match="unknown token id 25"):
        aim.explain(torch.tensor([[3, 25]]), 1)
    with pytest.raises(ValueError, match="empty text"):
        aim.explain(torch.tensor([[0, 0]]), 1)
    with pytest.raises(ValueError, match="K larger than the sequence"):
        aim.explain(x, 7)
    vocab = Vocabulary.build(["a good film", "a bad film"], min_freq=1)
    with pytest.raises(ValueError, match="empty text"):
        vocab.encode(["fine", "   "], 5)
    assert tokenize("It's a must-see!") == ["it's", "a", "must", "-", "see", "!"]
    assert vocab.encode(["a fine film"], 4).tolist() == [[vocab.index["a"], 1, vocab.index["film"], 0]]


@pytest.mark.filterwarnings("ignore:AIM. no epoch")      # a tiny training on random inputs: nothing to select
def test_images_as_a_grid_of_patches():
    """API (c): 28 x 28 images as 16 patches of 7 x 7; masking a patch zeroes exactly its pixels."""
    features = FeatureKind("patches", patch=7, image_size=28)
    images = torch.rand(3, 1, 28, 28)
    assert features.features(images).shape == (3, 16, 49)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10), torch.nn.Softmax(-1))
    box = image_black_box(model)
    z = torch.zeros(3, 16)
    z[:, 5] = 1                                                     # row 1, column 1: pixels 7..13 x 7..13
    seen = []
    hook = model[0].register_forward_hook(lambda m, i, o: seen.append(i[0]))
    box.masked_probs(images, z)
    hook.remove()
    outside = seen[0].clone()
    outside[:, :, 7:14, 7:14] = 0
    assert torch.equal(seen[0][:, :, 7:14, 7:14], images[:, :, 7:14, 7:14]) and not outside.any()
    aim = AIM(box, 10, features, AIMConfig(sizes=SMALL, epochs=1, batch_size=8))
    aim.fit(torch.rand(16, 1, 28, 28), torch.rand(8, 1, 28, 28))
    explanation = aim.explain(images, 4)
    assert explanation.positions.shape == (3, 4) and explanation.weights.shape == (3, 10, 16)
    kept = keep_items(images, explanation.positions, features)
    assert ((kept == 0) | (kept == images)).all() and (kept != 0).float().mean() <= 4 / 16 + 1e-6


def test_official_lime_evaluation_keeps_word_types_once_in_rank_order_and_deletes_every_occurrence():
    """Known answer: types ranked by their best position; kept once each, best first; removed everywhere."""
    x = torch.tensor([[5, 6, 5, 7, 0, 0]])
    scores = torch.tensor([[0.9, 0.1, 0.9, 0.5, 3.0, -math.inf]])            # PAD's score is never ranked
    types = top_word_types(x, scores, 2)
    assert types.tolist() == [[5, 7]]
    assert top_word_types(x, scores, 4).tolist() == [[5, 7, 6, 0]]          # three types: PAD-filled
    assert keep_word_types(x, types).tolist() == [[5, 7, 0, 0, 0, 0]]
    assert remove_word_types(x, types).tolist() == [[6, 0, 0, 0, 0, 0]]
    assert keep_items(x, top_k(scores, x != 0, 2), TOKENS).tolist() == [[5, 5, 0, 0, 0, 0]]   # by position


def test_the_official_protocol_turns_every_switch_on_and_pad_share_counts_padding_slots():
    assert all(getattr(OFFICIAL, f.name) not in (False, "original") for f in dataclasses.fields(Protocol))
    assert Protocol() == Protocol(False, "original", False, False, False, False, False)
    with pytest.raises(ConfigError, match="keep_order"):
        Protocol(keep_order="reversed")
    x = torch.tensor([[5, 6, 0, 0], [7, 8, 9, 0]])
    positions = top_k(torch.tensor([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]]), x != 0, 2, rank_padding=True)
    assert positions.tolist() == [[3, 2], [3, 2]]
    assert pad_share(x, positions).tolist() == [1.0, 0.5]
    assert pad_share(x, top_k(torch.zeros(2, 4), x != 0, 3)).tolist() == [0.0, 0.0]   # -1 slots are no PAD


def test_lime_ranking_follows_the_protocol():
    weights = torch.tensor([[[0.5, -2.0, -math.inf], [-0.5, 2.0, -math.inf]]])     # (1 item, 2 classes, L 3)
    label = torch.tensor([0])
    assert lime_ranking_scores(weights, label, Protocol()).tolist() == [[0.5, -2.0, -math.inf]]
    assert lime_ranking_scores(weights, label, Protocol(lime_abs=True)).tolist() == [[0.5, 2.0, -math.inf]]
    assert lime_ranking_scores(weights, label, Protocol(lime_class_one=True)).tolist() == [[-0.5, 2.0, -math.inf]]


def test_black_box_dropout_is_on_only_when_asked_and_needs_a_torch_model():
    """The official loop computes y1 with the black box in training mode; reprolab keeps it in eval mode."""
    torch.manual_seed(0)
    model = WordCNN(synthetic.VOCAB, 2, embed=8, filters=16, dropout=0.5)
    box = embedding_black_box(model)
    x = torch.randint(2, synthetic.VOCAB, (50, 6))
    z = torch.ones(50, 6)
    assert torch.equal(box.masked_probs(x, z), box.masked_probs(x, z))
    assert not torch.allclose(box.masked_probs(x, z, dropout=True), box.masked_probs(x, z))
    assert not model.training                                                   # back in eval mode
    with pytest.raises(ValueError, match="torch model black box"):
        callable_black_box(synthetic.rule).masked_probs(x, z, dropout=True)
    with pytest.raises(ValueError, match="official_black_box_dropout needs a torch model"):
        AIM(synthetic.black_box(), 2, TOKENS, AIMConfig(sizes=SMALL, official_black_box_dropout=True))
    data, _, _ = synthetic.items(100, seed=5)
    runs = [AIM(box, 2, TOKENS, AIMConfig(sizes=SMALL, epochs=1, batch_size=20, official_black_box_dropout=flag),
                seed=0).fit(data[:80], data[80:]).weights(data[:5]) for flag in (False, True)]
    assert not torch.equal(*runs)                                                 # y1 differs under dropout


def test_l2x_official_noise_is_drawn_once_for_every_batch(monkeypatch):
    from reprolab.methods.aim import baselines

    drawn = []
    draw = baselines.gumbel_noise
    monkeypatch.setattr(baselines, "gumbel_noise", lambda shape: drawn.append(shape) or draw(shape))
    x, _, _ = synthetic.items(90, seed=6)
    small = L2XConfig(embed=8, filters=8, hidden=8, epochs=2, batch_size=20)
    L2X(synthetic.black_box(), synthetic.VOCAB, 2, 3, small, 0).fit(x)
    assert drawn == []                                                          # fresh noise: gumbel_softmax
    L2X(synthetic.black_box(), synthetic.VOCAB, 2, 3, dataclasses.replace(small, official_fixed_noise=True), 0).fit(x)
    assert drawn == [(20, 3, 12)]                                               # once, (batch, K, L), 10 steps
    logits, noise = torch.randn(4, 12), torch.randn(4, 3, 12)
    assert torch.equal(l2x_mask(logits, 3, 0.5, noise), l2x_mask(logits, 3, 0.5, noise))


def test_the_row_rmsprop_step_equals_torchs_dense_step_bit_for_bit():
    """Embeddings trained on batches of ids (repeats included, most rows untouched): the same weights and
    squared-gradient averages as torch's RMSprop after every step."""
    torch.manual_seed(0)
    plain, rows = torch.nn.Embedding(50, 6), torch.nn.Embedding(50, 6)
    rows.load_state_dict(plain.state_dict())
    reference = torch.optim.RMSprop(plain.parameters(), lr=1e-2)
    fast = RowRMSprop([rows.weight], 1e-2, reference.defaults["alpha"], reference.defaults["eps"])
    for step in range(6):
        ids = torch.randint(0, 12 + 6 * step, (4, 5))
        target = torch.randn(4, 5, 6)
        reference.zero_grad()
        fast.zero_grad()
        for embedding in (plain, rows):
            (embedding(ids) - target).square().sum().backward()
        reference.step()
        fast.step(torch.unique(ids))
        assert torch.equal(plain.weight, rows.weight)
        assert torch.equal(reference.state[plain.weight]["square_avg"], fast.square_avgs[0])
    assert not torch.equal(plain.weight[:12], torch.nn.Embedding(50, 6).weight[:12])


def test_l2x_trains_the_same_weights_as_with_torchs_rmsprop_on_every_parameter(monkeypatch):
    from reprolab.methods.aim import baselines

    class DenseRMSprop(torch.optim.RMSprop):                  # the plain path: torch's step on every row
        def __init__(self, params, lr, alpha, eps):
            super().__init__(params, lr=lr, alpha=alpha, eps=eps)

        def step(self, rows=None):
            return super().step()

    x, _, _ = synthetic.items(90, seed=6)
    small = L2XConfig(embed=8, filters=8, hidden=8, epochs=2, batch_size=20)
    fast = L2X(synthetic.black_box(), synthetic.VOCAB, 2, 3, small, 0).fit(x)
    monkeypatch.setattr(baselines, "RowRMSprop", DenseRMSprop)
    plain = L2X(synthetic.black_box(), synthetic.VOCAB, 2, 3, small, 0).fit(x)
    for a, b in ((fast.selector, plain.selector), (fast.approximator, plain.approximator)):
        assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert torch.equal(fast.scores(x), plain.scores(x))


def test_balanced_offsets_give_every_class_the_same_share_and_need_validation_items():
    logits = torch.randn(300, 3, generator=torch.Generator().manual_seed(0)) * 4
    logits[:, 0] += 6                                                           # class 0 takes most items
    assert torch.bincount(logits.argmax(1), minlength=3)[0] > 200
    offsets = balanced_offsets(logits)
    assert torch.bincount((logits + offsets).argmax(1), minlength=3).tolist() == [100, 100, 100]
    assert abs(float(offsets.sum())) < 1e-5
    x, labels, _ = synthetic.items(40, seed=7)
    tiny = BlackBoxConfig(embed=8, filters=4, epochs=1)
    with pytest.raises(ValueError, match="needs val_x"):
        train_word_cnn(x, labels, 2, synthetic.VOCAB, dataclasses.replace(tiny, balanced=True), 0)
    assert not train_word_cnn(x, labels, 2, synthetic.VOCAB, tiny, 0).class_offsets.any()       # off by default
    balanced = train_word_cnn(x, labels, 2, synthetic.VOCAB, dataclasses.replace(tiny, balanced=True), 0, val_x=x)
    assert torch.bincount(balanced.logits(x).argmax(1), minlength=2).tolist() == [20, 20]


def test_official_training_flags_equal_to_the_configured_ones_reuse_one_trained_aim():
    from reprolab.methods.aim.experiment import CONFIGS, explain_cells
    from reprolab.runtime.config import apply_overrides

    assert [c["method"] for c in explain_cells(apply_overrides(CONFIGS["quick"], ["tasks=debates", "seeds=1",
                                                                                   "l2x_ks=1,3"]), 0)] == [
        "aim", "aim_official", "random", "l2x", "l2x", "lime", "kernel_shap", "integrated_gradients"]   # K 1, 3
    base = ["tasks=debates", "seeds=1", "official_l2x=true"]
    cells = explain_cells(apply_overrides(CONFIGS["quick"], base), 0)
    assert [c["method"] for c in cells] == ["aim", "aim_official", "random", "l2x", "lime", "kernel_shap",
                                            "integrated_gradients", "l2x_official"]
    official = ["aim.official_concrete=true", "aim.official_double_softmax=true",
                "aim.official_black_box_dropout=true", "l2x.official_fixed_noise=true", "l2x.official_rmsprop=true",
                "l2x.official_pad=true"]
    assert [c["method"] for c in explain_cells(apply_overrides(CONFIGS["quick"], base + official), 0)] == [
        "aim", "random", "l2x", "lime", "kernel_shap", "integrated_gradients"]


def test_l2x_official_rmsprop_steps_with_kerass_rho_and_epsilon(monkeypatch):
    """`official_rmsprop=True`: every parameter steps with Keras 2's RMSprop (rho 0.9, eps 1e-7); the default keeps
    torch's (alpha 0.99, eps 1e-8)."""
    from reprolab.methods.aim import baselines

    seen = []

    class RecordingRowRMSprop(RowRMSprop):
        def __init__(self, params, lr, alpha, eps):
            seen.append((alpha, eps))
            super().__init__(params, lr, alpha, eps)

    class RecordingRMSprop(torch.optim.RMSprop):
        def __init__(self, params, lr, alpha, eps):
            seen.append(("dense", alpha, eps))
            super().__init__(params, lr=lr, alpha=alpha, eps=eps)

    monkeypatch.setattr(baselines, "RowRMSprop", RecordingRowRMSprop)
    monkeypatch.setattr(torch.optim, "RMSprop", RecordingRMSprop)
    x, _, _ = synthetic.items(40, seed=6)
    small = L2XConfig(embed=8, filters=8, hidden=8, epochs=1, batch_size=20)
    default = L2X(synthetic.black_box(), synthetic.VOCAB, 2, 3, small, 0).fit(x)
    official = L2X(synthetic.black_box(), synthetic.VOCAB, 2, 3, dataclasses.replace(small, official_rmsprop=True),
                   0).fit(x)
    assert seen == [("dense", 0.99, 1e-8), (0.99, 1e-8), ("dense", 0.9, 1e-7), (0.9, 1e-7)]
    assert not torch.equal(default.scores(x), official.scores(x))


def test_aim_warns_when_no_epoch_reaches_the_selection_floor():
    x, _, _ = synthetic.items(60, seed=4)
    cfg = AIMConfig(sizes=SMALL, epochs=1, batch_size=30, selection_floor=1.01)      # unreachable
    with pytest.warns(UserWarning, match="selection_floor 1.01"):
        aim = AIM(synthetic.black_box(), 2, TOKENS, cfg).fit(x[:40], x[40:])
    assert aim.selected_epoch == 0


def test_official_selection_averages_per_batch_accuracies():
    """Correct, correct, correct, wrong | correct, wrong in batches of 4: the official loop's (3/4 + 1/2) / 2 = 0.625,
    the accuracy over all items 4/6."""
    correct = torch.tensor([True, True, True, False, True, False])
    assert mean_batch_accuracy(correct, 4) == 0.625
    assert mean_batch_accuracy(correct, 6) == pytest.approx(4 / 6)
    x, _, _ = synthetic.items(6, seed=3)
    measured = {}
    for flag in (False, True):
        aim = AIM(synthetic.black_box(), 2, TOKENS, AIMConfig(sizes=SMALL, batch_size=4, official_selection=flag))
        predicted = aim._eval_pass(x)[2].argmax(1)
        y_hat = torch.where(~correct, 1 - predicted, predicted)            # the approximator wrong on items 3 and 5
        measured[flag] = aim._measure(x, y_hat)["val_approximator_accuracy"]
    assert measured == {False: pytest.approx(4 / 6), True: 0.625}


def test_l2x_official_pad_draws_and_scores_padding_positions():
    """Default: PAD's logits are -1e9, so no Gumbel draw puts weight there; `official_pad`: PAD has a logit like any
    position and the draws range over it. Real positions get the same logits either way."""
    from reprolab.methods.aim.baselines import L2XSelector
    from reprolab.methods.aim.experiment import official_l2x_training

    x, _, _ = synthetic.items(20, seed=2)
    pad = x == 0
    assert pad.any()
    small = L2XConfig(embed=8, filters=8, hidden=8)
    torch.manual_seed(0)
    default = L2XSelector(synthetic.VOCAB, small).eval()
    official = L2XSelector(synthetic.VOCAB, dataclasses.replace(small, official_pad=True)).eval()
    official.load_state_dict(default.state_dict())
    masked, unmasked = default(x), official(x)
    assert torch.equal(masked[~pad], unmasked[~pad])
    assert (masked[pad] == -1e9).all() and (unmasked[pad] > -1e3).all()
    assert (l2x_mask(masked, 3, 0.7)[pad] == 0).all() and (l2x_mask(unmasked, 3, 0.7)[pad] > 0).all()
    assert official_l2x_training(small).official_pad
