"""Issue 33 items 3 and 4: the official LSTM seq2seq baseline (BiLSTM encoder, attention decoder) and TF1's
single-bias LSTM cell."""

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from reprolab.methods.dcw_mann.log import Pairs
from reprolab.methods.dcw_mann.model import MemoryEncoderDecoder, ModelConfig, TFLSTMCell, tf_lstm_init_
from reprolab.methods.dcw_mann.predictor import build_model, train_config_for
from reprolab.methods.dcw_mann.experiment import DcwMannConfig
from reprolab.methods.dcw_mann.seq2seq import Seq2SeqAttention, Seq2SeqConfig, attention_steps, time_major_context
from reprolab.methods.dcw_mann.stacked import StackedSeq2Seq
from reprolab.methods.dcw_mann.training import TrainConfig, encode_prefixes, first_step_probabilities, predict
from reprolab.runtime.config import ConfigError

VOCAB = 8
PREFIXES = [(1, 2, 3), (4,), (5, 6, 1, 2, 3)]


def _seq2seq(seed=0, **kwargs):
    torch.manual_seed(seed)
    return Seq2SeqAttention(VOCAB, Seq2SeqConfig(**{"hidden": 6, **kwargs}), decode_steps=5).eval()


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_tf_cell_has_one_bias_vector_and_matches_a_manual_computation():
    """TF1 LSTMCell: [i, j, f, o] = [x; h] K + b, c' = s(f + 1) c + s(i) tanh(j), h' = s(o) tanh(c')."""
    torch.manual_seed(0)
    cell = TFLSTMCell(3, 4)
    assert {n: tuple(p.shape) for n, p in cell.named_parameters()} == {"weight": (16, 7), "bias": (16,)}
    x, h, c = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4)
    h_new, c_new = cell(x, (h, c))
    z = np.concatenate([x.numpy(), h.numpy()], 1) @ cell.weight.detach().numpy().T + cell.bias.detach().numpy()
    i, j, f, o = np.split(z, 4, axis=1)
    c_ref = _sigmoid(f + 1.0) * c.numpy() + _sigmoid(i) * np.tanh(j)
    assert np.allclose(c_new.detach().numpy(), c_ref, atol=1e-6)
    assert np.allclose(h_new.detach().numpy(), _sigmoid(o) * np.tanh(c_ref), atol=1e-6)


def test_torch_cell_computes_the_same_function_but_its_two_biases_get_the_same_gradient():
    """The README's statement: torch's cell with b_ih + b_hh = TF's bias (+1 on the forget gate) is the same
    function, but both of its bias vectors receive the full gradient, so a step moves their sum twice as far."""
    torch.manual_seed(0)
    tf_cell, torch_cell = TFLSTMCell(3, 4), torch.nn.LSTMCell(3, 4)
    i, j, f, o = tf_cell.weight.detach().chunk(4)
    bi, bj, bf, bo = tf_cell.bias.detach().chunk(4)
    with torch.no_grad():
        weight = torch.cat([i, f, j, o])                    # torch's gate order: i, f, g, o
        torch_cell.weight_ih.copy_(weight[:, :3])
        torch_cell.weight_hh.copy_(weight[:, 3:])
        torch_cell.bias_ih.copy_(torch.cat([bi, bf, bj, bo]))
        torch_cell.bias_hh.zero_()
        torch_cell.bias_hh[4:8] = 1.0
    x, hc = torch.randn(2, 3), (torch.randn(2, 4), torch.randn(2, 4))
    for a, b in zip(tf_cell(x, hc), torch_cell(x, hc)):
        assert torch.allclose(a, b, atol=1e-6)
    torch_cell(x, hc)[0].sum().backward()
    assert torch.equal(torch_cell.bias_ih.grad, torch_cell.bias_hh.grad)


def test_the_official_sizes_have_the_official_parameter_count():
    """Helpdesk (11 tokens), a shared BiLSTM of 100 units per direction, a decoder LSTM of 200, attention over 20
    decoder steps."""
    assert sum(p.numel() for p in Seq2SeqAttention(11, Seq2SeqConfig(), 20).parameters()) == 381_831


def test_memory_models_take_the_tf_cell_behind_a_flag():
    cfg = ModelConfig(variant="dcw_mann", tf_lstm_cell=True)
    model = MemoryEncoderDecoder(11, cfg)
    assert isinstance(model.encoder.cell, TFLSTMCell) and model.encoder.cell.bias.eq(0).all()
    limit = (6.0 / (model.encoder.cell.input_size + 5 * 64)) ** 0.5
    assert model.encoder.cell.weight.abs().max() <= limit
    assert sum(p.numel() for p in model.parameters()) == 74_976 - 2 * 4 * 64       # one bias vector less per cell
    assert isinstance(MemoryEncoderDecoder(11, ModelConfig()).encoder.cell, torch.nn.LSTMCell)


@pytest.mark.parametrize("shared", [True, False])
def test_encoder_is_a_bidirectional_lstm_over_each_prefix_length(shared):
    """Against torch's packed bidirectional LSTM with the same weights: outputs at the prefix's own steps, the
    final states of both directions (the backward one after the first event), padded steps ignored; with one cell
    for both directions (run as one batch) and with two."""
    model = _seq2seq(shared_directions=shared)
    lstm = torch.nn.LSTM(VOCAB, 6, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for suffix, cell in (("", model.forward_cell), ("_reverse", model.backward_cell)):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(lstm, f"{name}_l0{suffix}").copy_(getattr(cell, name))
        encoded, (h, c), valid = model.encode(encode_prefixes(PREFIXES))
        lengths = [len(p) for p in PREFIXES]
        x = torch.zeros(3, max(lengths), VOCAB)
        for row, prefix in enumerate(PREFIXES):
            x[row, torch.arange(len(prefix)), torch.tensor(prefix) + 1] = 1.0
        packed, (h_n, c_n) = lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        outputs, _ = pad_packed_sequence(packed, batch_first=True)
    for row, k in enumerate(lengths):
        assert torch.allclose(encoded[row, -k:], outputs[row, :k], atol=1e-6)
        assert encoded[row, :-k].eq(0).all()                   # padded steps give 0
        assert valid[row].tolist() == [False] * (max(lengths) - k) + [True] * k
    assert torch.allclose(h, torch.cat([h_n[0], h_n[1]], 1), atol=1e-6)
    assert torch.allclose(c, torch.cat([c_n[0], c_n[1]], 1), atol=1e-6)


def test_first_decoder_step_follows_the_official_attention():
    """alpha = softmax over the decoder steps of tanh(W_omega e_t + b_omega); the first input is [onehot(GO); a_0];
    the output W h + b has a bias."""
    model = _seq2seq()
    prefix = encode_prefixes(PREFIXES)
    with torch.no_grad():
        encoded, hc, _ = model.encode(prefix)
        logits = model(prefix, 1)[:, 0]
        for row, k in enumerate(len(p) for p in PREFIXES):
            e = encoded[row, -k:].numpy()                                     # the prefix's own steps
            v = np.tanh(e @ model.attention.weight.numpy().T + model.attention.bias.numpy())
            alpha = np.exp(v) / np.exp(v).sum(axis=1, keepdims=True)
            a0 = (alpha[:, 0:1] * e).sum(axis=0)
            x = torch.cat([torch.nn.functional.one_hot(torch.tensor(1), VOCAB).float(), torch.tensor(a0).float()])
            h, _ = model.decoder(x[None], (hc[0][row:row + 1], hc[1][row:row + 1]))
            assert torch.allclose(logits[row], model.output(h)[0], atol=1e-5)
    assert model.output.bias is not None and model.decoder.hidden_size == 2 * 6


def test_seq2seq_predictions_do_not_depend_on_the_batch_and_greedy_feedback_ignores_targets():
    model = _seq2seq()
    with torch.no_grad():
        alone = model(encode_prefixes([PREFIXES[1]]), 4)[0]
        batched = model(encode_prefixes(PREFIXES), 4)[1]
        assert torch.allclose(alone, batched, atol=1e-6)
        model.train()
        x = encode_prefixes(PREFIXES[:2])
        assert torch.equal(model(x, 3, targets=torch.tensor([[2, 3, 0], [4, 5, 0]])),
                           model(x, 3, targets=torch.tensor([[6, 6, 0], [6, 6, 0]])))
    assert [len(p) <= 4 for p in predict(model, PREFIXES, 4, 100)] == [True] * 3
    with pytest.raises(ValueError, match="decode_steps 6 exceeds the 5"):
        model(encode_prefixes(PREFIXES), 6)


def test_official_configuration_initialisation_and_flags():
    cfg = Seq2SeqConfig()
    assert (cfg.hidden, cfg.lr, cfg.clip_value, cfg.shared_directions) == (100, 0.001, 0.0, True)
    model = build_model("lstm_seq2seq", 11, cfg, decode_steps=20)
    assert isinstance(model, Seq2SeqAttention) and model.attention.out_features == 20
    assert model.forward_cell.hidden_size == 100 and model.decoder.hidden_size == 200
    assert model.output.weight.abs().max() <= 1 and model.output.weight.abs().max() > 0.9
    assert model.output.bias.eq(0).all() and model.forward_cell.bias_hh[100:200].eq(1).all()
    assert model.forward_cell is model.backward_cell              # official: one cell object for both directions
    assert _seq2seq(shared_directions=False).backward_cell is not model.forward_cell
    assert isinstance(_seq2seq(tf_lstm_cell=True).decoder, TFLSTMCell)
    train = train_config_for("lstm_seq2seq", TrainConfig(), cfg)
    assert (train.lr, train.clip_value) == (0.001, 0.0)            # official Adam default, no clipping
    assert train_config_for("dcw_mann", TrainConfig(), ModelConfig()) == TrainConfig()
    with pytest.raises(ValueError, match="clip_value"):
        Seq2SeqConfig(clip_value=-1)


def test_attention_covers_training_suffixes_and_decoding():
    pairs = Pairs(((1,), (1, 2)), ((2, 3, 4), (3,)), (0, 0))
    assert attention_steps(20, pairs) == 20 and attention_steps(2, pairs) == 4


def test_tf_init_applies_to_both_cells():
    cell = TFLSTMCell(3, 4)
    tf_lstm_init_(cell)
    assert cell.bias.eq(0).all() and cell.weight.abs().max() <= (6 / (3 + 20)) ** 0.5


def official_contexts(outputs: np.ndarray, w_omega: np.ndarray, b_omega: np.ndarray) -> np.ndarray:
    """The official attention, operation by operation, on right-padded time-major encoder outputs (T, B, 2H):
    rows t*B + b scored, reshaped to [-1, T, D, 1], transposed to time-major and summed over time."""
    steps, batch, width = outputs.shape
    decode = w_omega.shape[1]
    v = np.tanh(outputs.reshape(-1, width) @ w_omega + b_omega.reshape(1, -1))
    exps = np.exp(v).reshape(-1, decode)
    alphas = (exps / exps.sum(1).reshape(-1, 1)).reshape(-1, steps, decode, 1).transpose(1, 0, 2, 3)
    temp = np.stack([outputs] * decode, axis=3).transpose(0, 1, 3, 2)
    return (temp * alphas).sum(0).reshape(batch, decode, width)


def test_time_major_attention_mixes_the_samples_as_the_official_code():
    """Prefixes of 3, 1 and 5 events: the official batch holds them right-padded and time-major; its contexts,
    and the first decoder step fed with them, are the flagged model's."""
    model = _seq2seq(time_major_attention=True)
    prefix = encode_prefixes(PREFIXES)
    with torch.no_grad():
        encoded, hc, valid = model.encode(prefix)
        assert torch.equal(valid, prefix[:, :-1] != 0)                   # the mask the mixed attention reads
        outputs = np.zeros((5, 3, 12), dtype=np.float32)
        for row, k in enumerate(len(p) for p in PREFIXES):
            outputs[:k, row] = encoded[row, -k:].numpy()
        reference = official_contexts(outputs, model.attention.weight.numpy().T, model.attention.bias.numpy())
        contexts = time_major_context(encoded, prefix[:, :-1] != 0, model.attention)
        assert np.allclose(contexts.numpy(), reference, atol=1e-6)
        x = torch.cat([torch.nn.functional.one_hot(torch.ones(3, dtype=torch.long), VOCAB).float(),
                       torch.tensor(reference[:, 0])], dim=1)
        assert torch.allclose(model(prefix, 1)[:, 0], model.output(model.decoder(x, hc)[0]), atol=1e-5)
        own = torch.einsum("btd,bth->bdh", torch.tanh(model.attention(encoded)).softmax(-1), encoded)
        assert not torch.allclose(contexts, own, atol=1e-2)               # each sample's own alphas: other contexts
        assert not torch.equal(model(prefix, 1), _seq2seq()(prefix, 1))  # the same weights without the flag
        # one prefix alone has nothing to mix with: the default's logits
        assert torch.allclose(model(prefix[2:], 4), _seq2seq()(prefix[2:], 4), atol=1e-6)


def test_time_major_attention_scores_the_official_blocks_one_at_a_time_and_refuses_stacking():
    """The official blocks of 10 are not joined by their padded length when the samples of a batch mix: the
    probabilities are those of each block decoded alone (joined, they would differ)."""
    torch.manual_seed(0)
    model = Seq2SeqAttention(VOCAB, Seq2SeqConfig(hidden=6, time_major_attention=True), decode_steps=6)
    rng = np.random.default_rng(0)
    prefixes = [tuple(rng.integers(1, 7, size=rng.integers(1, 3)).tolist()) for _ in range(40)]
    blocks = [prefixes[start:start + 10] for start in range(0, len(prefixes), 10)]
    alone = np.concatenate([first_step_probabilities(model, block, 10, official=True) for block in blocks])
    assert np.array_equal(first_step_probabilities(model, prefixes, 100, official=True), alone)
    assert predict(model, prefixes, 6, 100, official=True) == [
        p for block in blocks for p in predict(model, block, 6, 10, official=True)]
    joined = model(encode_prefixes(prefixes), 1)[:, 0].softmax(-1).detach().numpy()   # all blocks pad to 2 events
    assert not np.allclose(joined, alone, atol=1e-5)
    with pytest.raises(ValueError, match="stacking"):
        StackedSeq2Seq([model, model])
    with pytest.raises(ConfigError, match="time_major_attention"):
        DcwMannConfig(seq2seq=Seq2SeqConfig(time_major_attention=True),
                      stacked_models=("dcw_mann", "lstm_seq2seq"))
    DcwMannConfig(seq2seq=Seq2SeqConfig(time_major_attention=True))  # the seq2seq is not stacked by default
