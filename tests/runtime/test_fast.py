"""The opt-in fast path: off changes nothing, each switch does what it says, bad combinations are refused."""

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from reprolab.runtime.config import ConfigError, apply_overrides
from reprolab.runtime.fast import FastPath, autocast, check_fast_path, fast_batch, fast_model, fast_settings


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 8 * 8, 10))


def _train(model, fast: FastPath, steps: int = 3) -> list[float]:
    g = torch.Generator().manual_seed(1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(steps):
        x, y = torch.randn(16, 3, 8, 8, generator=g), torch.randint(10, (16,), generator=g)
        with autocast(fast, "cpu"):
            loss = F.cross_entropy(model(fast_batch(x, fast)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _plain_train(model, steps: int = 3) -> list[float]:
    g = torch.Generator().manual_seed(1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(steps):
        x, y = torch.randn(16, 3, 8, 8, generator=g), torch.randint(10, (16,), generator=g)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_switched_off_the_step_is_the_plain_eager_step_bit_for_bit():
    fast, plain = fast_model(_net(), FastPath()), _net()
    assert _train(fast, FastPath()) == _plain_train(plain)
    assert all(torch.equal(a, b) for a, b in zip(fast.state_dict().values(), plain.state_dict().values()))
    assert fast[0].weight.is_contiguous()


def test_channels_last_and_bf16_train_close_to_float32():
    model = fast_model(_net(), FastPath(bf16=True, channels_last=True))
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    fast_losses, plain_losses = _train(model, FastPath(bf16=True, channels_last=True)), _plain_train(_net())
    assert fast_losses != plain_losses                      # bf16 really ran
    assert max(abs(a - b) / b for a, b in zip(fast_losses, plain_losses)) < 0.05


def test_compiled_model_keeps_its_state_dict_keys_and_outputs():
    eager = _net().eval()
    compiled = fast_model(copy.deepcopy(eager), FastPath(compile=True))
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(compiled(x), eager(x), atol=1e-5)
    assert list(compiled.state_dict()) == list(eager.state_dict())


def test_impossible_combinations_are_refused_before_work():
    with pytest.raises(ConfigError, match="needs compile=true"):
        check_fast_path(FastPath(cuda_graphs=True), "cpu")
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        check_fast_path(FastPath(compile=True, cuda_graphs=True), "cpu")
    check_fast_path(FastPath(compile=True, bf16=True, channels_last=True), "cpu")


def test_method_configs_take_the_switches_as_top_level_keys():
    from reprolab.methods.mad.experiment import CONFIGS as MAD
    from reprolab.methods.neural_collapse.experiment import CONFIGS as NC
    from reprolab.methods.safl.experiment import CONFIGS as SAFL
    from reprolab.methods.trojan_filter.experiment import CONFIGS as TROJAN
    from reprolab.methods.domain_invariance.experiment import CONFIGS as DI

    for configs in (MAD, NC):
        cfg = apply_overrides(configs["quick"], ["compile=true", "bf16=true"])
        assert fast_settings(cfg) == FastPath(compile=True, bf16=True)
        assert fast_settings(configs["quick"]) == FastPath()
    # domain_invariance's featurizer and safl's and trojan_filter's quick configs are channels-last by default
    # (measured faster on CPU)
    for configs in (DI, SAFL, TROJAN):
        assert fast_settings(apply_overrides(configs["quick"], ["bf16=true"])) == FastPath(bf16=True,
                                                                                            channels_last=True)


def test_a_distiller_iteration_runs_on_the_fast_path():
    from reprolab.methods.mad.experiment import MADExperimentConfig, make_distiller
    from reprolab.methods.mad.teachers import build_network

    case = MADExperimentConfig().digits
    fast = FastPath(bf16=True, channels_last=True)
    distiller = make_distiller(case, "mad", build_network("cnn16"), seed=0, device="cpu", fast=fast)
    info = distiller.iteration()
    assert all(torch.isfinite(v) for v in info.values())
    conv = next(m for m in distiller.student.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_safl_training_steps_run_on_the_fast_path_close_to_float32():
    from reprolab.methods.safl.recognizer import Recognizer, TrainConfig
    from reprolab.methods.safl.synth import SynthConfig, SyntheticWordImages

    data = SyntheticWordImages(16, SynthConfig(), 0)
    cfg = TrainConfig(steps=2, batch_size=8, schedule="constant")
    losses = {}
    for name, fast in (("plain", FastPath()), ("fast", FastPath(bf16=True, channels_last=True))):
        recognizer = Recognizer.from_config(size="light", seed=0).fit(data, cfg, fast=fast, desc=name)
        losses[name] = recognizer.history["loss"]
    assert losses["fast"] != losses["plain"]                # bf16 really ran
    assert max(abs(a - b) / b for a, b in zip(losses["fast"], losses["plain"])) < 0.05
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        Recognizer.from_config(size="light").fit(data, cfg, fast=FastPath(compile=True, cuda_graphs=True))


def test_domain_invariance_featurizer_on_the_fast_path_trains_bf16_and_evaluates_float32():
    from reprolab.methods.domain_invariance.featurizers import FastFeaturizer, build_featurizer

    torch.manual_seed(0)
    plain, _ = build_featurizer("quick_cnn", (1, 16, 16))
    torch.manual_seed(0)
    fast, _ = build_featurizer("quick_cnn", (1, 16, 16), fast=FastPath(bf16=True, channels_last=True))
    assert isinstance(fast, FastFeaturizer) and fast.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(8, 1, 16, 16)
    trained = fast.train()(x)
    assert trained.dtype == torch.float32 and not torch.equal(trained, plain(x))      # bf16 convolutions
    assert torch.allclose(trained, plain(x), rtol=0.05, atol=0.02)
    assert torch.allclose(fast.eval()(x), plain(x), atol=1e-5)                          # evaluation: float32


def test_trojan_aif_filter_trains_on_the_fast_path_close_to_float32():
    from reprolab.methods.trojan_filter.adversarial import AIFConfig, TriggerGenerator, train_adversarial_filter
    from reprolab.methods.trojan_filter.filters import FilterConfig, PlainFilter

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 1, 28, 28, generator=g), torch.randint(10, (32,), generator=g)
    cfg = AIFConfig(filter=FilterConfig(steps=3, batch_size=8))
    logs = {}
    for name, fast in (("plain", FastPath()), ("fast", FastPath(bf16=True, channels_last=True))):
        torch.manual_seed(0)
        clf, filt, gen = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10)), PlainFilter(), TriggerGenerator()
        logs[name] = train_adversarial_filter(filt, gen, clf, x, y, cfg, fast=fast)
        if name == "fast":
            assert filt.encoder[0].weight.is_contiguous(memory_format=torch.channels_last)
    plain, fast = ([row[k] for row in logs[n] for k in ("loss_g", "loss_f")] for n in ("plain", "fast"))
    assert plain != fast                                      # bf16 really ran
    assert max(abs(a - b) / abs(b) for a, b in zip(fast, plain)) < 0.05
