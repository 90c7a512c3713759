"""Spec 7 checks 1-7 and 9, and the traps (boolean masks, the TPS zoom-out)."""

import dataclasses

import pytest
import torch
from torch.nn import functional as F

from reprolab.methods.safl.baselines import ctc_collapse
from reprolab.methods.safl.loss import focal_loss, noam, warmup_cosine
from reprolab.methods.safl.model import SAFL, SAFLConfig
from reprolab.methods.safl.recognizer import TrainConfig
from reprolab.methods.safl.stn import SOURCE_MARGIN, TARGET_MARGIN, Rectifier, TPSGrid, fiducials
from reprolab.methods.safl.transformer import SeqTransformer, causal_mask, sinusoid
from reprolab.methods.safl.vocab import EOS, PAD, UNK, decode, encode, normalize, one_minus_ned, word_accuracy


def _count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def official():
    torch.manual_seed(0)
    return SAFL(SAFLConfig()).eval()


def test_shapes_of_the_official_model(official):
    """Check 1: (B, 3, 64, 256) -> control points (B, 20, 2) -> rectified (B, 3, 32, 100) -> CNN (B, 25, 512) ->
    logits (B, T, 97)."""
    x = torch.rand(2, 3, 64, 256) * 2 - 1
    rectified, control = official.rectify(x)
    assert control.shape == (2, 20, 2) and rectified.shape == (2, 3, 32, 100)
    assert official.backbone(rectified).shape == (2, 25, 512)
    assert official(x, torch.zeros(2, 7, dtype=torch.long)).shape == (2, 7, 97)
    with pytest.raises(ValueError, match=r"\(B, 3, 64, 256\)"):
        official.encode(torch.zeros(2, 3, 32, 100))


def test_official_parameter_counts_within_one_percent(official):
    """Check 2: CNN 13.0M, STN 1.85M, Transformer + embedding + head 29.53M, total 44.4M (+3.15M dead BiLSTM)."""
    for got, expected in ((_count(official.backbone), 13.0e6), (_count(official.rectifier), 1.85e6),
                          (_count(official.transformer), 29.53e6), (_count(official), 44.4e6)):
        assert abs(got - expected) / expected < 0.01
    with_lstm = SAFL(SAFLConfig(aster_lstm=True))
    assert abs(_count(with_lstm) - _count(official) - 3.15e6) / 3.15e6 < 0.01


def test_tps_identity_and_the_zoom_out_initialisation(official):
    """Check 3: source points = target fiducials give the identity grid; the initial control points give
    x_src = 0.01 + (x - 0.05) 0.98 / 0.90, range [-0.044, 1.044] before clamping."""
    grid = TPSGrid(32, 100)
    source = grid.source_points(fiducials(TARGET_MARGIN).float()[None])[0]
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 100), indexing="ij")
    identity = torch.stack([xs.flatten(), ys.flatten()], 1)
    assert (source - identity).abs().max() < 1e-4
    control = official.rectifier.localization(torch.rand(2, 3, 64, 256))
    assert torch.allclose(control, fiducials(SOURCE_MARGIN).float().expand(2, -1, -1), atol=1e-6)
    source = grid.source_points(control)[0]
    zoom = 0.01 + (identity - 0.05) * 0.98 / 0.90
    assert (source - zoom).abs().max() < 1e-4
    assert source.min().item() == pytest.approx(-0.0444, abs=1e-3)
    assert source.max().item() == pytest.approx(1.0444, abs=1e-3)


def test_focal_loss_is_nll_at_gamma_zero_and_ignores_pad():
    """Check 4: focal(0, 1) = NLL (sum over non-PAD tokens / B); focal <= NLL per token; PAD: no loss, no
    gradient; EOS is a target."""
    targets, lengths = encode(["ab", "hello"], 25)
    assert targets[0].tolist() == [10, 11, EOS, PAD, PAD, PAD] and lengths.tolist() == [3, 6]
    logits = torch.randn(2, 6, 97, requires_grad=True)
    nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=PAD, reduction="sum") / 2
    assert abs(focal_loss(logits, targets, 0.0, 1.0).item() - nll.item()) < 1e-6
    assert focal_loss(logits, targets, 2.0, 1.0) <= nll and focal_loss(logits, targets, 1.0, 0.99) <= nll
    focal_loss(logits, targets, 1.0, 0.99).backward()
    assert logits.grad[0, 3:].abs().sum() == 0 and logits.grad[0, 2].abs().sum() > 0


def test_noam_and_warmup_cosine_values():
    """Check 5."""
    assert noam(1) == pytest.approx(2.1837e-8, rel=1e-3)     # the spec rounds 16000^-1.5 to 5e-7: 2.21e-8
    assert noam(16000) == pytest.approx(3.494e-4, rel=1e-3) and noam(64000) == pytest.approx(1.747e-4, rel=1e-3)
    assert warmup_cosine(50, 1e-3, 50, 450) == 1e-3 and warmup_cosine(450, 1e-3, 50, 450) == pytest.approx(0)


def test_official_lr_order_runs_step_one_at_lr_then_the_schedule_one_step_late():
    """The official trainer sets Noam's rate after each step from its count: step 1 runs at the command-line lr,
    step k at noam(k - 1). The default sets noam(k) before step k."""
    clean = TrainConfig(schedule="noam", warmup=16000, lr=2e-5)
    official = TrainConfig(schedule="noam", warmup=16000, lr=2e-5, official_lr_order=True)
    assert [clean.lr_for_step(k) for k in (1, 2, 16000)] == [noam(1), noam(2), noam(16000)]
    assert [official.lr_for_step(k) for k in (1, 2, 16001)] == [2e-5, noam(1), noam(16000)]


def test_fit_trains_at_the_rate_of_the_chosen_order(monkeypatch):
    from reprolab.methods.safl.datasets import WordImages
    from reprolab.methods.safl.recognizer import Recognizer

    used = []
    step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: (used.append(self.param_groups[0]["lr"]),
                                                                           step(self, *a, **k))[1])
    data = WordImages(torch.zeros(4, 3, 32, 100, dtype=torch.uint8), ["ab", "c", "de", "f"])
    for official in (False, True):
        cfg = TrainConfig(steps=3, batch_size=2, schedule="noam", warmup=10, lr=5e-3, official_lr_order=official)
        Recognizer.from_config(size="light", seed=0).fit(data, cfg)
    assert used == [noam(1, 512, 10), noam(2, 512, 10), noam(3, 512, 10), 5e-3, noam(1, 512, 10), noam(2, 512, 10)]


def test_fit_trains_the_encoder_and_the_rectifier_at_their_fraction_of_the_rate(monkeypatch):
    from reprolab.methods.safl.datasets import WordImages
    from reprolab.methods.safl.recognizer import Recognizer

    rates = []
    step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: (
        rates.append({id(p): g["lr"] for g in self.param_groups for p in g["params"]}), step(self, *a, **k))[1])
    data = WordImages(torch.zeros(4, 3, 32, 100, dtype=torch.uint8), ["ab", "c", "de", "f"])
    cfg = TrainConfig(steps=2, batch_size=2, schedule="constant", lr=1e-3, encoder_lr_scale=0.1,
                      rectifier_lr_scale=0.25)
    model = Recognizer.from_config(size="light", seed=0).fit(data, cfg).model
    encoder, rectifier = ({id(p) for p in part.parameters()} for part in (model.transformer.core.encoder,
                                                                          model.rectifier))
    expected = {id(p): 1e-3 * 0.1 if id(p) in encoder else 1e-3 * 0.25 if id(p) in rectifier else 1e-3
                for p in model.parameters()}
    assert rates == [expected, expected] and len(encoder) > 0 and len(rectifier) > 0
    official = Recognizer.from_config(size="light", seed=0).fit(data, dataclasses.replace(cfg, encoder_lr_scale=1,
                                                                                          rectifier_lr_scale=1))
    assert rates[-1] == {id(p): 1e-3 for p in official.model.parameters()}
    crnn = Recognizer.from_config("crnn", seed=0).fit(data, cfg)                      # no encoder, no rectifier
    assert rates[-1] == {id(p): 1e-3 for p in crnn.model.parameters()}
    with pytest.raises(ValueError, match="encoder_lr_scale"):
        TrainConfig(encoder_lr_scale=0)
    with pytest.raises(ValueError, match="rectifier_lr_scale"):
        TrainConfig(rectifier_lr_scale=1.5)


def test_official_decoder_pe_adds_the_row_of_each_samples_batch_slot():
    """The official decoder adds pe[:x.size(0)] to a batch-first (B, T, d) tensor: sample b gets row b of the
    sinusoid table at every step. Compared with that computation written out; the default adds row t at step t."""
    torch.manual_seed(0)
    t = SeqTransformer(32, 4, 64, 1, 1, official_decoder_pe=True).eval()
    tokens, memory = torch.tensor([[97, 3, 5], [97, 3, 5], [97, 8, 1]]), torch.randn(3, 6, 32)
    memory[1] = memory[0]                                                   # samples 0 and 1 differ by slot only
    table = sinusoid(5000, 32)
    slot = torch.stack([t.embedding(tokens[b]) + table[b] for b in range(3)])
    direct = t.head(t.core.decoder(slot, memory, tgt_mask=causal_mask(3)))
    assert torch.allclose(t.decode(tokens, memory), direct, atol=1e-6)
    assert not torch.allclose(direct[0], direct[1], atol=1e-4)              # same tokens, other slot: other output
    t.official_decoder_pe = False
    by_time = t.head(t.core.decoder(t.embedding(tokens) + table[:3], memory, tgt_mask=causal_mask(3)))
    assert torch.allclose(t.decode(tokens, memory), by_time, atol=1e-6)
    assert torch.allclose(by_time[0], by_time[1], atol=1e-6)               # the slot does not matter
    assert torch.allclose(by_time[2], t.decode(tokens[2:], memory[2:])[0], atol=1e-5)
    model = SAFL(SAFLConfig(size="light", official_decoder_pe=True))
    assert model.transformer.official_decoder_pe and not SAFL(SAFLConfig(size="light")).transformer.official_decoder_pe


def test_official_align_corners_samples_corner_pixel_centres():
    """Under PyTorch 1.1 grid_sample behaved as align_corners=True: with the identity warp (control points = the
    target fiducials) and equal input and output sizes the rectified image is the input itself. The default
    (align_corners=False) resamples it."""
    x = torch.rand(2, 3, 32, 100) * 2 - 1
    out = {}
    for official in (True, False):
        rectifier = Rectifier((32, 100), (8, 8, 8, 8, 8, 8), official_align_corners=official).eval()
        with torch.no_grad():
            rectifier.localization.fc2.bias.copy_(fiducials(TARGET_MARGIN).flatten().float())
        out[official] = rectifier(x)[0]
    assert torch.allclose(out[True], x, atol=1e-4)
    assert (out[False] - x).abs().max() > 0.01
    assert SAFL(SAFLConfig(size="light", official_align_corners=True)).rectifier.align_corners


def test_metric_values():
    """Check 6, and the case / symbol trap: a symbol-only label normalises to ""."""
    assert normalize("Hello-World!") == "helloworld"
    # the official normaliser keeps [0-9A-Za-z] before lower-casing: 'İ' and the Kelvin sign are dropped, not read
    # as 'i' and 'k' (str.lower maps them into ASCII)
    assert normalize("\u0130stanbul") == "stanbul" and normalize("\u212a9") == "9"
    assert word_accuracy(["k", "istanbul"], ["\u212a", "\u0130stanbul"]) == 0.0
    assert one_minus_ned("abc", "abd") == pytest.approx(2 / 3) and one_minus_ned("", "") == 1.0
    assert word_accuracy(["HELLO", "x", "?!"], ["hello", "y", "..."]) == pytest.approx(2 / 3)
    assert decode([10, UNK, 11, EOS, 12]) == "ab" and ctc_collapse([0, 11, 11, 0, 11, 12, 12, 0]) == "aab"


def test_cached_greedy_equals_the_official_decoder_and_beam_one_is_greedy():
    """Check 7 on a briefly trained light model (so that it emits EOS at varying steps)."""
    torch.manual_seed(0)
    model = SAFL(SAFLConfig(size="light"))
    x = torch.rand(6, 3, 32, 100) * 2 - 1
    targets, _ = encode(["ab", "cde", "f", "ghij", "k", "lm"], 25)
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(30):
        loss = focal_loss(model.train()(x, targets), targets, 0, 1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    cached, recomputed = model.greedy(x, 25), model.greedy_recompute(x, 25)
    assert [decode(r) for r in cached.tolist()] == [decode(r) for r in recomputed.tolist()]
    for row_c, row_r in zip(cached.tolist(), recomputed.tolist()):
        stop = row_c.index(EOS) + 1 if EOS in row_c else len(row_c)
        assert row_c[:stop] == row_r[:stop]                         # identical ids up to the first EOS
    assert cached.shape[1] < 25 or not (cached == EOS).any(1).all()   # stops once every row has ended
    assert [decode(r) for r in model.beam(x, 1, 25).tolist()] == [decode(r) for r in cached.tolist()]


def test_masks_are_boolean_true_blocked():
    """Trap: the causal encoder mask (official) hides later CNN columns from earlier ones; the clean variant does
    not mask."""
    mask = causal_mask(3)
    assert mask.dtype == torch.bool and mask.tolist() == [[False, True, True], [False, False, True],
                                                          [False, False, False]]
    torch.manual_seed(0)
    features = torch.randn(1, 8, 32)
    changed = features.clone()
    changed[0, 5] += 1
    for causal in (True, False):
        t = SeqTransformer(32, 4, 64, 1, 1, enc_causal_mask=causal).eval()
        a, b = t.encode(features), t.encode(changed)
        assert torch.allclose(a[0, :5], b[0, :5], atol=1e-6) == causal


def test_the_clean_variant_adds_encoder_positions_and_drops_the_causal_mask():
    """`variant="clean"` switches both encoder quirks off: the same CNN column at every position gives one encoder
    output per position (sinusoids added) and a later column reaches an earlier one (no causal mask); the official
    variant gives every position of such a row the same output and hides later columns."""
    official, clean = SAFL(SAFLConfig(size="light")).transformer, SAFL(SAFLConfig(size="light", variant="clean"))
    clean = clean.transformer
    assert (official.enc_pos_enc, official.enc_causal_mask, clean.enc_pos_enc, clean.enc_causal_mask) == \
        (False, True, True, False)
    torch.manual_seed(0)
    column = torch.randn(1, 1, 128).expand(1, 6, 128)
    for t in (official.eval(), clean.eval()):
        out = t.encode(column)
        assert torch.allclose(out[0, 0], out[0, 5], atol=1e-6) == (t is official)
    changed = column.clone()
    changed[0, 5] += 1
    assert torch.equal(official.encode(column)[0, :5], official.encode(changed)[0, :5])
    assert not torch.allclose(clean.encode(column)[0, :5], clean.encode(changed)[0, :5], atol=1e-6)
