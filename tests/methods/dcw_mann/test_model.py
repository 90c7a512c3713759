"""Spec 7 checks 3, 4 and 6 on the model, the official encoding, and the padding flag (trap 8)."""

import random

import pytest
import torch

from reprolab.methods.dcw_mann.log import Pairs
from reprolab.methods.dcw_mann.model import EOS, GO, PAD, MemoryEncoderDecoder, ModelConfig, SuffixModel
from reprolab.methods.dcw_mann.seq2seq import Seq2SeqAttention, Seq2SeqConfig
from reprolab.methods.dcw_mann.training import (TrainConfig, encode_prefixes, encode_targets, evaluate,
                                                evaluation_batches, masked_cross_entropy, predict)

VOCAB = 8                       # 6 activities + PAD/EOS + GO
SMALL = dict(slots=5, word_size=4, read_heads=2, hidden=12)


def _model(variant, seed=0, **kwargs):
    torch.manual_seed(seed)
    return MemoryEncoderDecoder(VOCAB, ModelConfig(variant=variant, **{**SMALL, **kwargs}))


def _decoder_trace(model, prefixes, steps=6):
    trace = []
    model.eval()
    with torch.no_grad():
        model(encode_prefixes(prefixes), steps, trace=trace)
    encoder_steps = max(len(p) for p in prefixes) + 1
    return trace[encoder_steps - 1:]            # the last encoder step's state, then every decoder step


def test_write_protection_keeps_the_memory_bit_identical_while_decoding():
    """Check 3: with write protection M, u, L, p and w^w do not change over the decoder steps while w^r does;
    DC-MANN (same weights) writes while decoding."""
    prefixes = [(1, 2, 3), (4, 2), (5, 6, 1, 2)]
    protected = _decoder_trace(_model("dcw_mann"), prefixes)
    assert all(not r["written"] for r in protected[1:]) and protected[0]["written"]
    last_written = protected[0]["state"]
    for record in protected[1:]:
        for name in ("memory", "usage", "link", "precedence", "write_weighting"):
            assert torch.equal(getattr(record["state"], name), getattr(last_written, name)), name
    assert not torch.equal(protected[-1]["state"].read_weightings, last_written.read_weightings)
    writing = _model("dc_mann")
    writing.load_state_dict(_model("dcw_mann").state_dict())
    unprotected = _decoder_trace(writing, prefixes)
    assert not torch.equal(unprotected[-1]["state"].memory, unprotected[0]["state"].memory)


def test_variants_have_the_documented_parameters():
    """Check 4: without the dual controller no decoder parameter exists; the LSTM has no memory parameters."""
    names = {v: {n for n, _ in _model(v).named_parameters()} for v in ("lstm_shared", "dnc", "dc_mann", "dcw_mann")}
    assert not any(n.startswith("decoder.") for n in names["dnc"] | names["lstm_shared"])
    assert any(n.startswith("decoder.") for n in names["dc_mann"]) and names["dc_mann"] == names["dcw_mann"]
    assert not any("interface" in n or "read_output" in n for n in names["lstm_shared"])
    cfg = ModelConfig(variant="dcw_mann")            # the quick sizes on Helpdesk (9 activities): as the prototype
    assert sum(p.numel() for p in MemoryEncoderDecoder(11, cfg).parameters()) == 74_976


def test_official_initialisation():
    model = _model("dcw_mann", hidden=64)
    cell = model.encoder.cell
    limit = (6.0 / (cell.input_size + 64 + 4 * 64)) ** 0.5
    assert cell.weight_ih.abs().max() <= limit and cell.weight_ih.abs().max() > 0.9 * limit
    assert cell.bias_hh[64:128].eq(1).all() and cell.bias_ih.eq(0).all() and cell.bias_hh[:64].eq(0).all()
    assert abs(model.read_output.weight.std().item() - 0.1) < 0.02 and model.encoder.output.bias is None


def test_encoding_is_left_padded_with_go_and_targets_end_with_eos():
    """Check 6 (EOS in every target) and the official layout: token = id + 1, prefix left-padded, then GO."""
    x = encode_prefixes([(1, 2), (3,)])
    assert x.tolist() == [[2, 3, GO], [PAD, 4, GO]]
    targets, mask = encode_targets([(4,), (5, 6, 1)])
    assert targets.tolist() == [[5, EOS, PAD, PAD], [6, 7, 2, EOS]]
    assert mask.tolist() == [[True, True, False, False], [True, True, True, True]]


def test_masked_loss_ignores_padded_positions():
    logits = torch.randn(2, 4, VOCAB, generator=torch.Generator().manual_seed(0))
    targets, mask = encode_targets([(4,), (5, 6, 1)])
    changed = logits.clone()
    changed[0, 2:] = 100.0                              # positions past the first target's EOS
    assert torch.equal(masked_cross_entropy(logits, targets, mask), masked_cross_entropy(changed, targets, mask))
    manual = torch.nn.functional.cross_entropy(logits[mask], targets[mask])
    assert torch.allclose(masked_cross_entropy(logits, targets, mask), manual)


def test_greedy_feedback_is_the_default_and_teacher_forcing_uses_the_targets():
    """Trap 2: by default training feeds back the argmax, so the targets do not change the logits."""
    model = _model("dcw_mann").train()
    x = encode_prefixes([(1, 2), (3, 4)])
    a = model(x, 3, targets=torch.tensor([[2, 3, 0], [4, 5, 0]]))
    b = model(x, 3, targets=torch.tensor([[6, 6, 0], [6, 6, 0]]))
    assert torch.equal(a, b)
    forced = _model("dcw_mann", teacher_forcing=True).train()
    assert not torch.equal(forced(x, 3, targets=torch.tensor([[2, 3, 0], [4, 5, 0]])),
                           forced(x, 3, targets=torch.tensor([[6, 6, 0], [6, 6, 0]])))


def test_padding_makes_predictions_depend_on_the_batch_unless_masked():
    """Trap 8: the official encoder writes on pad steps, so a short prefix's output changes with the longest
    prefix in its batch; `mask_encoder_padding` removes that dependence."""
    short, long = (1, 2), (3, 4, 5, 6, 1, 2, 3)
    for masked in (False, True):
        model = _model("dcw_mann", mask_encoder_padding=masked).eval()
        with torch.no_grad():
            alone = model(encode_prefixes([short]), 4)[0]
            batched = model(encode_prefixes([short, long]), 4)[0]
        assert torch.allclose(alone, batched, atol=1e-5) == masked


def test_evaluation_predictions_do_not_change_when_another_prefix_joins_the_batch():
    """Issue 33: evaluation batches hold prefixes of one length (no padding), so a prediction is the same whatever
    else is scored; the official fixed batches of 10 (unmasked padding) change it."""
    model = _model("dcw_mann")
    prefixes = [(1, 2), (3,)]
    joined = prefixes + [(3, 4, 5, 6, 1, 2, 3), (4, 5)]
    alone = [predict(model, [p], 6, 100) for p in prefixes]
    assert predict(model, joined, 6, 100)[:2] == [a[0] for a in alone]
    assert predict(model, joined, 6, 100, official=True)[:2] != predict(model, prefixes, 6, 100, official=True)


def test_evaluation_batches_group_prefixes_by_length_or_follow_the_official_blocks():
    prefixes = [(1, 2), (3,), (4, 5), (6,), (1, 2, 3)]
    assert evaluation_batches(prefixes, 100) == [[1, 3], [0, 2], [4]]
    assert evaluation_batches(prefixes, 1) == [[1], [3], [0], [2], [4]]
    assert evaluation_batches(prefixes * 3, 100, official=True) == [list(range(15))]      # both blocks pad to 3
    assert evaluation_batches(prefixes * 3, 1, official=True) == [list(range(10)), list(range(10, 15))]
    mixed = [(1,)] * 10 + [(1, 2, 3)] + [(2,)] * 19 + [(4, 5)]
    assert evaluation_batches(mixed, 100, official=True) == [   # blocks 0 and 2 pad to 1, block 3 to 2, block 1 to 3
        list(range(10)) + list(range(20, 30)), [30], list(range(10, 20))]
    assert evaluation_batches(mixed, 15, official=True)[:2] == [list(range(10)), list(range(20, 30))]


def test_official_scoring_of_joined_blocks_equals_one_block_at_a_time():
    """The official blocks of 10 joined by their padded length give the predictions of decoding each block of 10
    alone (left-padded to its own longest prefix), for a memory model and the seq2seq."""
    rng = random.Random(3)
    prefixes = [tuple(rng.randint(1, 6) for _ in range(rng.randint(1, 5))) for _ in range(57)]
    seq2seq = Seq2SeqAttention(8, Seq2SeqConfig(hidden=6), decode_steps=6)
    for model in (_model("dcw_mann"), _model("dnc"), seq2seq):
        blocks = [prefixes[start:start + 10] for start in range(0, len(prefixes), 10)]
        alone = [p for block in blocks for p in predict(model, block, 6, 10, official=True)]
        assert len(evaluation_batches(prefixes, 100, official=True)) < len(blocks)
        assert predict(model, prefixes, 6, 100, official=True) == alone


class NeverEnds(SuffixModel):
    """Logits that always pick activity 1 (token 2), never EOS; records the decoder steps it is asked for."""

    vocab = 4

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[int] = []

    def forward(self, prefix, decode_steps, targets=None, stop_at_eos=False):
        self.steps.append(decode_steps)
        return torch.tensor([0.0, 0.0, 1.0, 0.0]).expand(prefix.shape[0], decode_steps, 4)


def test_official_decoding_runs_as_many_steps_as_the_batchs_longest_suffix():
    """The official test loops decode the batch's longest target (suffix + EOS) and cut at the first EOS: a model
    that never ends predicts that many activities; by default `max_decode` of them."""
    pairs = Pairs(((1,), (2,), (1, 2)), ((3, 4, 5, 6, 1), (3,), ()), (0, 1, 2))
    model = NeverEnds()
    assert predict(model, pairs.prefixes, 3, 100) == [[1] * 3] * 3
    assert predict(model, pairs.prefixes, 3, 100, suffixes=pairs.suffixes) == [[1] * 6, [1] * 6, [1]]
    assert predict(model, pairs.prefixes, 3, 1, suffixes=pairs.suffixes) == [[1] * 6, [1] * 2, [1]]  # one a batch
    model.steps.clear()
    evaluate(model, pairs, TrainConfig(max_decode=3, decode_to_longest_target=True))
    assert model.steps == [6, 1]                            # the batch of one-event prefixes, then (1, 2)
    model.steps.clear()
    evaluate(model, pairs, TrainConfig(max_decode=3))
    assert model.steps == [3, 3]
    # the official blocks of 10, both padded to 2 events, decode apart: each for its own longest suffix + 1
    blocks = Pairs(pairs.prefixes * 4, pairs.suffixes * 3 + ((1, 2),) * 3, (0,) * 12)
    model.steps.clear()
    predict(model, blocks.prefixes, 3, 100, official=True)
    assert model.steps == [3]                               # joined by default: one batch
    model.steps.clear()
    evaluate(model, blocks, TrainConfig(max_decode=3, official_eval_batches=True, decode_to_longest_target=True))
    assert model.steps == [6, 3]


def test_greedy_decode_stops_at_eos_and_bad_sizes_are_errors():
    model = _model("lstm_shared")
    with torch.no_grad():
        model.encoder.output.weight.zero_()
    assert model.greedy_decode(encode_prefixes([(1,), (2, 3)]), 5) == [[], []]     # all-zero logits: EOS first
    with pytest.raises(ValueError, match="vocab must be >= 3"):
        MemoryEncoderDecoder(2, ModelConfig())
    with pytest.raises(ValueError, match="variant"):
        ModelConfig(variant="ntm")


def test_compiling_the_memory_step_needs_a_cpp_compiler(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ValueError, match="model.compile_memory.*C\\+\\+ compiler"):
        ModelConfig(compile_memory=True)
    assert not ModelConfig().compile_memory
