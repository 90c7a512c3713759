import dataclasses
import math

import pytest
import torch
from torch import nn

from reprolab.methods.trojan_filter.filters import (FilterCollapsed, FilterConfig, FilterDefense, PlainFilter,
                                                    VariationalFilter, kl_to_standard_normal, train_filter)
from reprolab.methods.trojan_filter.baselines.strip import STRIP


class BrightnessClassifier(nn.Module):
    """Class 1 when the mean pixel exceeds 0.5, else class 0 (two logits, scaled by `sharpness`)."""

    def __init__(self, sharpness=50.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(sharpness))

    def forward(self, x):
        m = x.flatten(1).mean(1) - 0.5
        return torch.stack([-m, m], dim=1) * self.scale


def test_classifier_stays_frozen_while_gradients_reach_the_filter():
    torch.manual_seed(0)
    clf = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    before = [p.clone() for p in clf.parameters()]
    for filt in (PlainFilter(), VariationalFilter()):
        start = [p.clone() for p in filt.parameters()]
        x, y = torch.rand(32, 1, 28, 28), torch.randint(10, (32,))
        train_filter(filt, clf, x, y, FilterConfig(steps=3, batch_size=8))
        assert all(torch.equal(p, q) for p, q in zip(before, clf.parameters()))
        assert all(p.grad is None for p in clf.parameters()) and not clf.training
        assert any(not torch.equal(p, q) for p, q in zip(start, filt.parameters()))
        assert filt(x[:2]).shape == (2, 1, 28, 28) and not filt.training


def test_kl_by_hand_and_vif_is_deterministic_at_test_time():
    mu, logvar = torch.zeros(2, 3, 1, 1), torch.zeros(2, 3, 1, 1)
    assert kl_to_standard_normal(mu, logvar).item() == 0.0
    mu[:, 0] = 1.0
    assert kl_to_standard_normal(mu, logvar).item() == pytest.approx(0.5)
    vif = VariationalFilter().eval()
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(vif(x), vif(x))


def _defense(filt, **kw):
    return FilterDefense(BrightnessClassifier(), filt, **kw)


def test_ftc_flags_disagreement_and_answers_by_the_rule():
    x = torch.cat([torch.full((1, 1, 4, 4), 0.2), torch.full((1, 1, 4, 4), 0.8)])
    identity = _defense(nn.Identity())
    assert not identity.detect(x).any() and identity.predict(x).tolist() == [0, 1]   # identity: FPR 0, FNR 100 %
    darken = nn.Sequential()
    darken.forward = lambda t: t * 0.5                                                # sends class 1 to class 0
    assert _defense(darken).detect(x).tolist() == [False, True]
    assert _defense(darken).predict(x).tolist() == [0, -1]
    assert _defense(darken, reject=False).predict(x).tolist() == [0, 0]
    assert _defense(darken, mode="filter").predict(x).tolist() == [0, 0]
    with pytest.raises(ValueError, match="mode"):
        _defense(darken, mode="vote")


def test_a_constant_output_filter_is_caught_as_collapsed():
    constant = nn.Sequential()
    constant.forward = lambda t: torch.zeros_like(t)
    x = torch.cat([torch.full((5, 1, 4, 4), 0.2), torch.full((5, 1, 4, 4), 0.8)])
    y = torch.tensor([0] * 5 + [1] * 5)
    with pytest.raises(FilterCollapsed, match="0.500 is below 0.900"):
        _defense(constant).check_not_collapsed(x, y, 0.9)
    assert _defense(nn.Identity()).check_not_collapsed(x, y, 0.9) == 1.0


def test_strip_entropy_per_input():
    class Uniform(nn.Module):
        def forward(self, x):
            return torch.zeros(len(x), 10)

    x_def = torch.rand(50, 1, 4, 4)
    strip = STRIP(Uniform(), x_def, n_blends=5)
    assert torch.allclose(strip.entropy(torch.rand(3, 1, 4, 4)), torch.full((3,), math.log(10)))
    # blends of an all-white input saturate to white: a confident class 1 whatever the partner -> entropy ~ 0
    confident = STRIP(BrightnessClassifier(sharpness=200.0), torch.rand(200, 1, 4, 4) * 0.5, n_blends=8)
    h = confident.entropy(torch.ones(2, 1, 4, 4))
    assert (h < 1e-6).all() and confident.detect(torch.ones(2, 1, 4, 4)).all()
    clean_flags = confident.detect(torch.rand(400, 1, 4, 4) * 0.5).float().mean().item()
    assert clean_flags < 0.05
    with pytest.raises(ValueError, match="fpr"):
        STRIP(Uniform(), x_def, fpr=0.0)


def test_aif_generator_makes_masked_triggers_and_its_step_leaves_filter_and_classifier_alone():
    from reprolab.methods.trojan_filter.adversarial import (AIFConfig, TriggerGenerator, generator_loss,
                                                            train_adversarial_filter)

    torch.manual_seed(0)
    gen = TriggerGenerator()
    x = torch.rand(4, 1, 28, 28)
    x_bar, m, p = gen(x, torch.Generator().manual_seed(0))
    assert torch.allclose(x_bar, (1 - m) * x + m * p) and m.shape == (4, 1, 28, 28)
    assert 0 < m.min() and m.max() < 1 and m.mean() < 0.2               # the -2 bias starts with small masks
    clf = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    filt = PlainFilter()
    # the area penalty is zero below xi and grows linearly above it
    y = torch.zeros(4, dtype=torch.long)
    small, large = torch.full_like(m, 0.01), torch.full_like(m, 0.15)
    base = generator_loss(clf, filt, x_bar, small, y, AIFConfig())
    assert generator_loss(clf, filt, x_bar, large, y, AIFConfig()).item() == pytest.approx(base.item() + 10 * 0.10,
                                                                                            rel=1e-5)
    before_clf = [p.clone() for p in clf.parameters()]
    before_gen = [p.clone() for p in gen.parameters()]
    train_adversarial_filter(filt, gen, clf, torch.rand(16, 1, 28, 28), torch.randint(10, (16,)),
                             AIFConfig(filter=FilterConfig(steps=2, batch_size=4)))
    assert all(torch.equal(a, b) for a, b in zip(before_clf, clf.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before_gen, gen.parameters()))
    with pytest.raises(ValueError, match="plain"):
        train_adversarial_filter(VariationalFilter(), gen, clf, x, y, AIFConfig())


def test_neural_cleanse_anomaly_index_by_hand_and_finds_a_planted_shortcut():
    from reprolab.methods.trojan_filter.baselines.neural_cleanse import (NeuralCleanseConfig, anomaly_indices,
                                                                         neural_cleanse, unlearn)

    norms = torch.tensor([10.0, 11.0, 9.0, 10.0, 2.0])
    # median 10, |dev| = 0, 1, 1, 0, 8 -> MAD 1 -> indices dev / 1.4826
    assert torch.allclose(anomaly_indices(norms), torch.tensor([0.0, 1.0, 1.0, 0.0, 8.0]) / 1.4826)

    class Shortcut(nn.Module):
        """Classes 0-2: the brightest of three column blocks (a large trigger is needed to force one); class 3: a
        bright top-left pixel (a one-pixel trigger, the planted backdoor)."""

        def forward(self, x):
            blocks = x[:, 0].unflatten(2, (3, 2)).mean(dim=(1, 3))           # (N, 3) column-block means
            return torch.cat([20 * blocks, 40 * (x[:, 0, :1, 0] - 0.7)], dim=1)

    x_def = torch.rand(64, 1, 6, 6) * 0.5
    out = neural_cleanse(Shortcut(), x_def, 4, NeuralCleanseConfig(steps=150, l1_weight=0.05))
    assert out["l1_norms"][3] == min(out["l1_norms"]) and out["flagged"] == [3]
    y = torch.zeros(64, dtype=torch.long)
    cleaned = unlearn(nn.Sequential(nn.Flatten(), nn.Linear(36, 4)), x_def, y, out["triggers"], [3],
                      NeuralCleanseConfig(unlearn_steps=2))
    assert not any(p.requires_grad for p in cleaned.parameters())


def test_fine_pruning_removes_dormant_channels_first_and_stops_at_the_accuracy_budget():
    from reprolab.methods.trojan_filter.baselines.fine_pruning import (FinePruningConfig, fine_prune,
                                                                       mean_channel_activation)

    class TwoChannel(nn.Module):
        """Channel 0 carries the class (brightness), channel 1 is dormant on clean data (a 'backdoor' neuron)."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 1)
            with torch.no_grad():
                self.conv.weight[:] = torch.tensor([1.0, -1.0]).view(2, 1, 1, 1)
                self.conv.bias[:] = torch.tensor([0.0, -2.0])
            self.head = nn.Linear(2, 2)
            with torch.no_grad():
                self.head.weight[:] = torch.tensor([[-10.0, 0.0], [10.0, 0.0]])
                self.head.bias[:] = torch.tensor([2.5, -2.5])

        def forward(self, x):
            return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))

    x = torch.rand(200, 1, 4, 4)
    y = (x.mean(dim=(1, 2, 3)) > 0.5).long()
    model = TwoChannel()
    acts = mean_channel_activation(model, model.conv, x)
    assert acts[1] == 0 and acts[0] > 0
    pruned, info = fine_prune(model, x, y, FinePruningConfig(finetune_steps=0))
    assert info["pruned_channels"] == 1                 # the dormant channel goes; pruning the next would cost accuracy
    assert info["defender_accuracy_after"] >= info["defender_accuracy_before"] - 0.04
    assert torch.equal(model.conv.weight, TwoChannel().conv.weight)   # the original classifier is untouched


class Corner(nn.Module):
    """One conv channel copies the image; the class-1 logit reads only the top-left 2x2 corner."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1, bias=False)
        nn.init.ones_(self.conv.weight)

    def forward(self, x):
        a = torch.relu(self.conv(x))
        corner = a[:, 0, :2, :2].mean(dim=(1, 2))
        return torch.stack([-corner, corner], dim=1)


def test_gradcam_finds_the_deciding_pixels_and_februus_inpaints_only_there():
    from reprolab.methods.trojan_filter.baselines.februus import (FebruusConfig, FebruusFilter, Inpainter, gradcam,
                                                                  random_holes)

    x = torch.full((2, 1, 8, 8), 0.1)
    x[:, :, :2, :2] = 0.9                                               # a bright corner patch, as a trigger
    cam = gradcam(Corner(), x)
    assert cam.shape == (2, 1, 8, 8) and torch.allclose(cam.amax(dim=(1, 2, 3)), torch.ones(2))
    assert cam[:, :, :2, :2].min() > cam[:, :, 4:, 4:].max()          # the heat sits on the corner it reads
    inpainter = Inpainter()
    out = FebruusFilter(Corner(), inpainter, 0.7)(x)
    m = (cam >= 0.7).float()
    assert m[:, :, :2, :2].all() and m.sum() == 2 * 4                  # only the corner is removed
    assert torch.equal(out * (1 - m), x * (1 - m)) and not torch.equal(out * m, x * m)
    holes = random_holes(5, (28, 28), FebruusConfig(), torch.Generator().manual_seed(0))
    assert holes.shape == (5, 1, 28, 28) and set(holes.unique().tolist()) == {0.0, 1.0}


def test_the_mask_budget_is_enforced_and_differentiable():
    """AIF's triggers stay within the area budget xi (the soft penalty alone let areas of 0.15-0.19 through)."""
    from reprolab.methods.trojan_filter.adversarial import TriggerGenerator

    torch.manual_seed(0)
    free, bounded = TriggerGenerator(), TriggerGenerator(budget=0.05)
    bounded.load_state_dict(free.state_dict())
    with torch.no_grad():
        bounded.net[-1].bias[0] += 3.0                   # a generator that wants large masks
        free.net[-1].bias[0] += 3.0
    x = torch.rand(6, 1, 28, 28)
    _, m_free, _ = free(x, torch.Generator().manual_seed(1))
    x_bar, m, p = bounded(x, torch.Generator().manual_seed(1))
    assert m_free.flatten(1).mean(1).min() > 0.3
    assert (m.flatten(1).mean(1) <= 0.05 + 1e-6).all() and torch.allclose(x_bar, (1 - m) * x + m * p)
    m.sum().backward()
    assert bounded.net[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="budget"):
        TriggerGenerator(budget=0.0)


def test_aif_enforce_budget_reaches_the_generator_the_experiment_trains():
    """`--set aif_enforce_budget=false` leaves AIF's masks to the soft penalty alone: at initialisation the masks'
    mean area is sigmoid(h - 2), about 0.12, above xi = 0.05, and only the budget scales it down."""
    from reprolab.methods.trojan_filter.adversarial import AIFConfig, trigger_generator
    from reprolab.methods.trojan_filter.config import TrojanExperimentConfig
    from reprolab.methods.trojan_filter.evaluate import train_defense

    assert trigger_generator(1, AIFConfig()).budget == 0.05
    assert trigger_generator(1, AIFConfig(enforce_budget=False)).budget is None
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 2, (16,))
    areas = {}
    for enforce in (True, False):
        torch.manual_seed(0)
        cfg = TrojanExperimentConfig(aif_steps=1, filter_width=4, filter_latent=2, filter=FilterConfig(batch_size=4),
                                     aif_enforce_budget=enforce)
        _, log = train_defense("AIF", BrightnessClassifier(), x, y, cfg, seed=0)
        areas[enforce] = log[-1]["mask_area"]
    assert areas[True] <= 0.05 + 1e-6 < 0.08 < areas[False]


def test_strip_official_blend_and_threshold():
    """`clip=False` sums without saturating, as the official notebook's cv2.addWeighted on float images; its
    `threshold="normal"` is the `fpr` quantile of the normal that scipy.stats.norm.fit fits to the clean entropies."""
    from scipy import stats

    from reprolab.methods.trojan_filter.baselines.strip import clean_threshold

    h = torch.rand(300, generator=torch.Generator().manual_seed(0)) * 2
    mu, sigma = stats.norm.fit(h.double().numpy())
    assert clean_threshold(h, 0.01, "normal") == pytest.approx(stats.norm.ppf(0.01, mu, sigma), rel=1e-9)
    assert clean_threshold(h, 0.01, "quantile") == pytest.approx(float(torch.quantile(h, 0.01)))
    # an all-white input: clipped blends stay white (confident, entropy ~ 0); unclipped ones keep the partner's
    # variation above white, so the brightness classifier stays confident too, but on inputs over 1
    bright = BrightnessClassifier(sharpness=200.0)
    x_def = torch.rand(200, 1, 4, 4) * 0.5
    clipped, unclipped = STRIP(bright, x_def, n_blends=8), STRIP(bright, x_def, n_blends=8, clip=False)
    seen = []
    bright.forward = lambda x, f=bright.forward: seen.append(float(x.max())) or f(x)
    clipped.entropy(torch.ones(2, 1, 4, 4))
    unclipped.entropy(torch.ones(2, 1, 4, 4))
    assert seen[-2] <= 1.0 < seen[-1]
    with pytest.raises(ValueError, match="threshold_rule"):
        STRIP(bright, x_def, threshold_rule="median")
    assert clean_threshold(torch.zeros(10), 0.01, "normal") == 0.0      # a saturated classifier: no spread


def test_neural_cleanse_official_keep_takes_the_smallest_mask_that_reaches_the_target():
    from reprolab.methods.trojan_filter.baselines.neural_cleanse import (NeuralCleanseConfig, keep_smallest_successful,
                                                                         reverse_trigger)

    best = nn.ParameterDict({"a": torch.zeros(2), "b": torch.zeros(2), "l1": torch.tensor(float("inf"))})
    best.requires_grad_(False)
    for k, (l1, success) in enumerate([(5.0, 0.5), (4.0, 0.995), (6.0, 1.0), (3.0, 0.98), (3.5, 0.99)]):
        keep_smallest_successful(best, torch.full((2,), float(k)), torch.full((2,), -float(k)), torch.tensor(l1),
                                 torch.tensor(success))
    assert best["l1"].item() == 3.5 and best["a"].tolist() == [4.0, 4.0] and best["b"].tolist() == [-4.0, -4.0]

    class OnePixel(nn.Module):                    # class 1 when the top-left pixel is bright: a one-pixel trigger
        def forward(self, x):
            return torch.stack([torch.zeros(len(x)), 40 * (x[:, 0, 0, 0] - 0.7)], dim=1)

    x_def = torch.rand(64, 1, 6, 6) * 0.5
    cfg = NeuralCleanseConfig(steps=60, l1_weight=0.05, betas=(0.5, 0.9))
    kept = reverse_trigger(OnePixel(), x_def, 1, dataclasses.replace(cfg, keep="best"),
                           torch.Generator().manual_seed(0))
    m, p = kept
    assert (OnePixel()((1 - m) * x_def + m * p).argmax(1) == 1).float().mean() >= 0.99   # the kept mask works
    last = reverse_trigger(OnePixel(), x_def, 1, cfg, torch.Generator().manual_seed(0))
    assert not torch.equal(m, last[0])                            # keep="best" took an earlier mask

    class NeverOne(nn.Module):                    # no mask reaches class 1: "best" falls back to the last mask
        def forward(self, x):
            return torch.stack([torch.ones(len(x)), x.flatten(1).mean(1) * 0], dim=1)

    fallback = reverse_trigger(NeverOne(), x_def, 1, dataclasses.replace(cfg, keep="best"),
                               torch.Generator().manual_seed(0))
    plain = reverse_trigger(NeverOne(), x_def, 1, cfg, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(fallback, plain))


class ChannelMeans(nn.Module):
    """An identity 1x1 convolution over three channels; logit k = the mean of ReLU(channel k)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))

    def forward(self, x):
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


def _three_channel_images(n=4):
    """Channel 0: 0.4 everywhere; channel 1: 1.0 at one pixel of each 2x2 window, else 0; channel 2: 0.6 and -1.0
    alternating by column. Means of ReLU: 0.4, 0.25, 0.3; of ReLU then 2x2 max pooling: 0.4, 1.0, 0.6; raw means:
    0.4, 0.25, -0.2."""
    x = torch.zeros(n, 3, 4, 4)
    x[:, 0] = 0.4
    x[:, 1, ::2, ::2] = 1.0
    x[:, 2] = torch.tensor([0.6, -1.0, 0.6, -1.0])
    return x


def test_fine_pruning_rankings_by_hand_and_the_official_fixed_count():
    """The official code ranks the mean of the max-pooled ReLU output ("pooled"), WaNet's port the raw output
    ("raw"); each ranking sends a different channel first. `prune_count` prunes that many whatever the accuracy."""
    from reprolab.methods.trojan_filter.baselines.fine_pruning import (FinePruningConfig, fine_prune,
                                                                       mean_channel_activation)

    model, x = ChannelMeans(), _three_channel_images()
    y = torch.zeros(len(x), dtype=torch.long)                        # channel 0 has the largest logit everywhere
    expected = {"relu": ([0.4, 0.25, 0.3], 1), "pooled": ([0.4, 1.0, 0.6], 0), "raw": ([0.4, 0.25, -0.2], 2)}
    for rank, (means, first) in expected.items():
        assert torch.allclose(mean_channel_activation(model, model.conv, x, rank), torch.tensor(means)), rank
        pruned, info = fine_prune(model, x, y, FinePruningConfig(rank=rank, prune_count=1, finetune_steps=0))
        logits = pruned(x)
        assert info["pruned_channels"] == 1 and (logits[:, first] == 0).all(), rank
        assert torch.equal(torch.cat([logits[:, :first], logits[:, first + 1:]], 1),
                           torch.cat([model(x)[:, :first], model(x)[:, first + 1:]], 1)), rank
    # pruning channel 0 (first under "pooled") costs all accuracy: the budget rule prunes nothing, the count does
    assert fine_prune(model, x, y, FinePruningConfig(rank="pooled", finetune_steps=0))[1]["pruned_channels"] == 0
    _, forced = fine_prune(model, x, y, FinePruningConfig(rank="pooled", prune_count=1, finetune_steps=0))
    assert forced["defender_accuracy_after"] == 0.0
    # an odd map keeps its overhanging window, as Caffe's pooling: max over rows 0-1 and row 2 of a 3x3 map
    odd = torch.zeros(1, 3, 3, 3)
    odd[:, :, 2, 2] = 1.0
    assert torch.allclose(mean_channel_activation(model, model.conv, odd, "pooled"), torch.full((3,), 0.25))
    with pytest.raises(ValueError, match="prune_count"):
        fine_prune(model, x, y, FinePruningConfig(prune_count=3, finetune_steps=0))
    with pytest.raises(ValueError, match="rank"):
        mean_channel_activation(model, model.conv, x, "max")


def test_februus_official_heat_is_min_max_normalised():
    """cam = w relu(x) with one weight w > 0: background 0.7, corner 0.9 give cam / max = 7/9 outside the corner,
    above the 0.7 threshold, and (cam - min) / (max - min) = 0 there: only the official map isolates the corner."""
    from reprolab.methods.trojan_filter.baselines.februus import FebruusFilter, Inpainter, gradcam

    x = torch.full((2, 1, 8, 8), 0.7)
    x[:, :, :2, :2] = 0.9
    corner = torch.zeros_like(x, dtype=torch.bool)
    corner[:, :, :2, :2] = True
    by_max, by_range = gradcam(Corner(), x), gradcam(Corner(), x, heat="minmax")
    assert torch.allclose(by_max[~corner], torch.tensor(7 / 9)) and torch.allclose(by_max[corner], torch.tensor(1.0))
    assert torch.allclose(by_range[~corner], torch.tensor(0.0)) and torch.allclose(by_range[corner],
                                                                                  torch.tensor(1.0))
    seen = []
    inpainter = Inpainter()
    inpainter.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[1]))
    FebruusFilter(Corner(), inpainter, 0.7)(x)
    FebruusFilter(Corner(), inpainter, 0.7, heat="minmax")(x)
    assert seen[0].all() and torch.equal(seen[1].bool(), corner)     # the holes handed to the inpainter
    with pytest.raises(ValueError, match="heat"):
        gradcam(Corner(), x, heat="sum")


def test_februus_official_fill_puts_the_mean_pixel_in_the_holes():
    """`Inpainter(fill="mean")` learns the per-channel mean pixel of its training images and feeds it in the holes
    (the official code's x - x m + mpv m); the default feeds x (1 - m) as before, and keeps no extra buffer."""
    from reprolab.methods.trojan_filter.baselines.februus import FebruusConfig, Inpainter, train_inpainter

    x_def = torch.rand(16, 3, 8, 8)
    x_def[:, 1] *= 0.2
    cfg = FebruusConfig(steps=1, batch_size=4, max_holes=1, hole_size=(2, 4))
    x, m = torch.rand(2, 3, 8, 8), torch.zeros(2, 1, 8, 8)
    m[:, :, 2:5, 3:7] = 1.0
    inputs = {}
    for fill in ("zero", "mean"):
        torch.manual_seed(0)
        inpainter = Inpainter(3, width=8, latent=4, fill=fill)
        train_inpainter(inpainter, x_def, cfg)
        handle = inpainter.encoder.register_forward_pre_hook(lambda _m, args, fill=fill: inputs.update({fill: args[0]}))
        inpainter(x, m)
        handle.remove()
    mean = x_def.mean(dim=(0, 2, 3)).view(1, 3, 1, 1)
    assert torch.equal(inputs["zero"], torch.cat([x * (1 - m), m], 1))
    assert torch.allclose(inputs["mean"][:, :3], x * (1 - m) + mean * m) and torch.equal(inputs["mean"][:, 3:], m)
    assert "fill" not in Inpainter(3).state_dict() and torch.equal(Inpainter(3, fill="mean").state_dict()["fill"],
                                                                   torch.zeros(1, 3, 1, 1))
    # `--set februus.fill=mean` reaches the inpainter the experiment trains
    from reprolab.methods.trojan_filter.config import TrojanExperimentConfig
    from reprolab.methods.trojan_filter.experiment import februus_inpainter

    run_cfg = TrojanExperimentConfig(filter_width=8, filter_latent=4, cache=False,
                                     februus=dataclasses.replace(cfg, fill="mean"))
    assert torch.allclose(februus_inpainter(x_def, run_cfg, seed=0)[0].fill, mean)
    with pytest.raises(ValueError, match="fill"):
        Inpainter(3, fill="noise")


def test_februus_official_layer_weighs_the_relu_after_the_last_batchnorm():
    """`layer="conv_input"`: GradCAM on NetCMNIST's last convolution's input, the ReLU after its last BatchNorm
    (the official code's target layer is such a ReLU); a reference by hand splits the network there. The default
    weighs the last convolution's 4x4 output and gives another map."""
    from reprolab.methods.trojan_filter.baselines.februus import FebruusConfig, FebruusFilter, Inpainter, gradcam
    from reprolab.methods.trojan_filter.classifier import make_classifier

    torch.manual_seed(0)
    clf = make_classifier("mnist").eval()
    net = clf.net
    assert isinstance(net.features[5], nn.BatchNorm2d) and isinstance(net.features[6], nn.ReLU)
    x = torch.rand(3, 1, 28, 28)
    a = net.features[:7]((x - 0.5) / 0.5).detach().requires_grad_(True)        # ReLU(BatchNorm(conv)): 64 x 7 x 7
    logits = net.classifier(net.features[7:](a))
    grads, = torch.autograd.grad(logits.gather(1, logits.argmax(1, keepdim=True)).sum(), a)
    cam = torch.relu((grads.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True)).detach()
    cam = nn.functional.interpolate(cam, size=(28, 28), mode="bilinear", align_corners=False)
    expected = cam / cam.flatten(1).amax(1).view(-1, 1, 1, 1)
    at_input = gradcam(clf, x, layer="conv_input")
    assert torch.allclose(at_input, expected, atol=1e-6)
    assert (gradcam(clf, x) - at_input).abs().max() > 0.1
    seen = []
    inpainter = Inpainter()
    inpainter.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[1]))
    FebruusFilter(clf, inpainter, 0.7, layer="conv_input")(x)
    assert torch.equal(seen[0], (at_input >= 0.7).float())            # FebruusFilter holes from the same map
    assert FebruusConfig().layer == "conv"
    with pytest.raises(ValueError, match="layer"):
        gradcam(clf, x, layer="bn")


def test_fine_pruning_at_the_block_output_removes_the_channel_from_the_skip_path_too():
    """On PreActResNet18, `prune_at="block"` ranks and masks the last residual block's output (its conv2 plus the
    skip path), as WaNet's port removes the channel from conv2, the shortcut and the linear layer: the logits equal
    fc(avgpool(block output with those channels zeroed)), by hand. The default masks only conv2's output, so the
    skip path still carries the channel."""
    from reprolab.methods.trojan_filter.baselines.fine_pruning import (FinePruningConfig, fine_prune,
                                                                       mean_channel_activation, pruning_site)
    from reprolab.nets import PreActResNet18

    torch.manual_seed(0)
    model = PreActResNet18().eval()
    x, y = torch.rand(4, 3, 32, 32), torch.zeros(4, dtype=torch.long)
    block = model.stages[-1]
    assert pruning_site(model, "block") is block and pruning_site(model, "conv") is block.conv2
    with torch.no_grad():
        out = block(model.stages[:-1](model.stem(x)))                         # (4, 512, 4, 4), skip path added
    means = out.mean(dim=(0, 2, 3))
    assert torch.allclose(mean_channel_activation(model, block, x, "raw"), means)
    cfg = FinePruningConfig(rank="raw", prune_count=100, finetune_steps=0, prune_at="block")
    pruned, info = fine_prune(model, x, y, cfg)
    keep = torch.ones(512)
    keep[means.argsort()[:100]] = 0.0
    with torch.no_grad():
        expected = model.fc(nn.functional.avg_pool2d(out * keep.view(1, -1, 1, 1), 4).flatten(1))
        assert info["pruned_channels"] == 100 and torch.allclose(pruned(x), expected, atol=1e-5)
        default, _ = fine_prune(model, x, y, dataclasses.replace(cfg, prune_at="conv"))
        assert (default(x) - expected).abs().max() > 1e-3
    with pytest.raises(ValueError, match="prune_at"):
        pruning_site(model, "stage")


def test_fine_pruning_at_the_block_output_is_the_conv_output_without_residual_blocks():
    from reprolab.methods.trojan_filter.baselines.fine_pruning import pruning_site

    model = ChannelMeans()
    assert pruning_site(model, "block") is model.conv


def test_the_experiments_februus_filter_takes_its_heat_settings_from_the_config():
    """`februus_filter` (what `run_attack` builds): the threshold, the normalisation and the layer of the config's
    Februus settings, and the defaults of the purifier otherwise."""
    from reprolab.methods.trojan_filter.baselines.februus import FebruusConfig, Inpainter, februus_filter

    classifier, inpainter = torch.nn.Linear(2, 2), Inpainter(1)
    built = februus_filter(classifier, inpainter, FebruusConfig(heat_threshold=0.3, heat="minmax",
                                                                layer="conv_input"))
    assert (built.heat_threshold, built.heat, built.layer) == (0.3, "minmax", "conv_input")
    default = februus_filter(classifier, inpainter, FebruusConfig())
    assert (default.heat_threshold, default.heat, default.layer) == (0.7, "max", "conv")


def test_the_last_convolutions_channel_counts_the_config_checks_are_the_classifiers():
    """The config's Fine-Pruning bound is the channel count of the last convolution of the classifier each dataset
    trains (`CLASSIFIER_NETS[dataset].last_conv_channels`, 64 and 512)."""
    from reprolab.methods.trojan_filter.baselines.fine_pruning import FinePruningConfig, last_conv
    from reprolab.methods.trojan_filter.classifier import make_classifier
    from reprolab.methods.trojan_filter.config import CLASSIFIER_NETS, TrojanExperimentConfig
    from reprolab.runtime.config import ConfigError

    assert set(CLASSIFIER_NETS) == {"mnist", "cifar10"}                  # every dataset of the config
    for dataset, net in CLASSIFIER_NETS.items():
        built = make_classifier(dataset)
        channels = last_conv(built).out_channels
        assert type(built.net) is net and channels == net.last_conv_channels
        TrojanExperimentConfig(dataset=dataset, fine_pruning=FinePruningConfig(prune_count=channels - 1))
        with pytest.raises(ConfigError, match=f"below the {channels} channels"):
            TrojanExperimentConfig(dataset=dataset, fine_pruning=FinePruningConfig(prune_count=channels))
