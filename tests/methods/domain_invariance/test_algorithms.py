import copy

import numpy as np
import pytest
import torch
from torch import nn

from reprolab.methods.domain_invariance.algorithms import DomainInvariant, mean_source_risk
from reprolab.methods.domain_invariance.baselines import (CORAL, DANN, ERM, MMD, AdversarialConfig, cdann_weights,
                                                          coral_distance, gradient_reversal)
from reprolab.methods.domain_invariance.penalties import general_penalty, ramp


def _batches(k=3, n=6, dim=5, classes=4, seed=0, sizes=None):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(m, dim, generator=gen), torch.randint(0, classes, (m,), generator=gen))
            for m in (sizes or [n] * k)]


def _featurizer(dim=5, out=6, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(dim, out), nn.ReLU())


def test_gradient_reversal_is_identity_forward_and_minus_lambda_backward():
    x = torch.randn(4, 3, requires_grad=True)
    upstream = torch.randn(4, 3)
    y = gradient_reversal(x, 0.7)
    assert torch.equal(y, x)
    y.backward(upstream)
    assert torch.equal(x.grad, -0.7 * upstream)


def test_cdann_weights_sum_to_present_classes_over_c_and_the_domainbed_quirk():
    y = torch.tensor([0, 0, 1, 3, 3, 3])
    w = cdann_weights(y, num_classes=10)
    assert float(w.sum()) == pytest.approx(3 / 10)                     # 3 classes present, C = 10
    assert w[0] == pytest.approx(1 / (2 * 10)) and w[3] == pytest.approx(1 / (3 * 10))
    quirk = cdann_weights(y, num_classes=10, domainbed_class_weight=True)
    assert float(quirk.sum()) == pytest.approx(3 / 4)                  # DomainBed divides by max label + 1 = 4


def test_coral_distance_by_hand():
    a = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    b = a + torch.tensor([1.0, 0.0])                                   # shifted mean, same covariance
    assert float(coral_distance(a, a)) == 0.0
    assert float(coral_distance(a, b)) == pytest.approx((1.0 + 0.0) / 2)
    c = a * 2                                                           # covariance x4, mean x2
    mean_diff = ((a.mean(0) - c.mean(0)) ** 2).mean()
    cov_a = torch.cov(a.T)
    assert float(coral_distance(a, c)) == pytest.approx(float(mean_diff + ((cov_a - 4 * cov_a) ** 2).mean()), rel=1e-6)


def test_dann_alternates_discriminator_and_generator_steps_as_domainbed():
    alg = DANN(_featurizer(), 6, 4, 3, adv=AdversarialConfig(mlp_width=8))
    before = copy.deepcopy(alg.featurizer.state_dict())
    first = alg.update(_batches())                                      # t = 1: 1 % 2 = 1 >= 1 -> generator step
    assert "risk" in first and not all(torch.equal(before[k], v) for k, v in alg.featurizer.state_dict().items())
    after_gen = copy.deepcopy(alg.featurizer.state_dict())
    disc_before = copy.deepcopy(alg.discriminator.state_dict())
    second = alg.update(_batches(seed=1))                              # t = 2: discriminator step
    assert set(second) == {"disc_loss"}
    assert all(torch.equal(after_gen[k], v) for k, v in alg.featurizer.state_dict().items())
    assert not all(torch.equal(disc_before[k], v) for k, v in alg.discriminator.state_dict().items())
    assert alg.generator_steps() == 1
    grl = DANN(_featurizer(), 6, 4, 3, adv=AdversarialConfig(mlp_width=8, mode="grl"))
    grl.update(_batches())
    grl.update(_batches(seed=1))
    assert grl.generator_steps() == 2


def test_dann_generator_step_ascends_the_discriminator_loss():
    """The generator's gradient on the featurizer is grad(CE) - lambda * grad(disc_loss)."""
    torch.manual_seed(0)
    alg = DANN(_featurizer(), 6, 4, 3, adv=AdversarialConfig(mlp_width=8, lam=2.0))
    batches = _batches()
    x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    labels = torch.arange(3).repeat_interleave(6)
    z = alg.featurizer(x)
    ce = nn.functional.cross_entropy(alg.classifier(z), y)
    disc = nn.functional.cross_entropy(alg.discriminator(z), labels)
    expected = torch.autograd.grad(ce - 2.0 * disc, alg.featurizer[0].weight)[0]
    alg.gen_opt.step = lambda: None                                     # keep the gradient, skip the step
    alg.update(batches)
    assert torch.allclose(alg.featurizer[0].weight.grad, expected, atol=1e-6)


def _step_gradients(grad_penalty: float, form: str, sizes=(4, 6, 8)) -> tuple[torch.Tensor, torch.Tensor]:
    """CDANN's featurizer gradient in its generator step (t = 1) and discriminator gradient in its discriminator
    step (t = 2) on the same batches, the steps themselves skipped (the weights never change)."""
    cfg = AdversarialConfig(mlp_width=8, grad_penalty=grad_penalty, grad_penalty_form=form)
    alg = DANN(_featurizer(), 6, 4, 3, conditional=True, adv=cfg)
    alg.gen_opt.step = alg.disc_opt.step = lambda: None
    batches = _batches(sizes=list(sizes))
    assert "risk" in alg.update(batches)                                # t = 1: generator step
    generator = alg.featurizer[0].weight.grad.clone()
    assert set(alg.update(batches)) == {"disc_loss"}                    # t = 2: discriminator step
    return generator, alg.discriminator[0].weight.grad.clone()


@pytest.mark.parametrize("form", ["domainbed", "domainbed_pre2022"])
def test_gradient_penalty_reaches_both_steps_as_in_domainbed(form):
    """DomainBed adds the penalty to disc_loss before branching: the discriminator minimises it and the generator,
    which maximises disc_loss, maximises it too (both forms; they differ only in what is differentiated)."""
    plain_gen, plain_disc = _step_gradients(0.0, form)
    gen, disc = _step_gradients(5.0, form)
    assert not torch.allclose(gen, plain_gen) and not torch.allclose(disc, plain_disc)


def test_pre2022_gradient_penalty_is_zero_with_equal_domain_batches():
    """The July 2020 form differentiates softmax[:, labels].sum() = sum_i sum_d n_d softmax_id: constant n * B when
    every domain has n samples, so its gradient and the penalty are exactly 0; the current form is not."""
    plain_gen, plain_disc = _step_gradients(0.0, "domainbed_pre2022", (6, 6, 6))
    gen, disc = _step_gradients(5.0, "domainbed_pre2022", (6, 6, 6))
    assert torch.equal(gen, plain_gen) and torch.equal(disc, plain_disc)
    assert not torch.allclose(_step_gradients(5.0, "domainbed", (6, 6, 6))[0], plain_gen)


def test_current_gradient_penalty_in_the_generator_step_by_hand():
    """Generator gradient = grad(CE - lambda * (disc_loss + w * mean_i ||d sum CE / d z_i||^2)) (DomainBed since
    August 2022)."""
    alg = DANN(_featurizer(), 6, 4, 3, adv=AdversarialConfig(mlp_width=8, lam=2.0, grad_penalty=5.0))
    batches = _batches(sizes=[4, 6, 8])
    x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    labels = torch.arange(3).repeat_interleave(torch.tensor([4, 6, 8]))
    z = alg.featurizer(x)
    out = alg.discriminator(z)
    input_grad = torch.autograd.grad(nn.functional.cross_entropy(out, labels, reduction="sum"), z,
                                     create_graph=True)[0]
    disc = nn.functional.cross_entropy(out, labels) + 5.0 * input_grad.pow(2).sum(1).mean()
    ce = nn.functional.cross_entropy(alg.classifier(z), y)
    expected = torch.autograd.grad(ce - 2.0 * disc, alg.featurizer[0].weight)[0]
    alg.gen_opt.step = lambda: None
    alg.update(batches)
    assert torch.allclose(alg.featurizer[0].weight.grad, expected, atol=1e-6)


def test_gradient_penalty_form_is_validated_and_equals_its_finite_difference_value():
    """gp = mean_i ||d sum_j CE(D(v_j), d_j) / d v_i||^2, the gradient taken by central differences (float64)."""
    with pytest.raises(ValueError, match="grad_penalty_form"):
        AdversarialConfig(grad_penalty_form="wgan")
    alg = DANN(_featurizer(), 6, 4, 3, conditional=True, adv=AdversarialConfig(mlp_width=8, grad_penalty=1.0))
    alg.double()
    batches = _batches()
    x, y = torch.cat([b[0] for b in batches]).double(), torch.cat([b[1] for b in batches])
    labels = torch.arange(3).repeat_interleave(6)
    v = (alg.featurizer(x) + alg.class_embeddings(y)).detach().requires_grad_()
    _, gp = alg.discriminator_loss(v, y, labels)

    def summed_ce(inputs):
        return nn.functional.cross_entropy(alg.discriminator(inputs), labels, reduction="sum")

    grad = torch.zeros_like(v)
    with torch.no_grad():
        for row, col in np.ndindex(*v.shape):
            step = torch.zeros_like(v)
            step[row, col] = 1e-6
            grad[row, col] = (summed_ce(v + step) - summed_ce(v - step)) / 2e-6
    assert gp.item() == pytest.approx(grad.pow(2).sum(1).mean().item(), rel=1e-6)


def test_mmd_baseline_is_the_raw_general_penalty_with_constant_weight():
    alg = MMD(_featurizer(), 6, 4, 3, gamma=0.5)
    batches = _batches()
    z = alg.featurizer(torch.cat([b[0] for b in batches]))
    expected = general_penalty(z, torch.arange(3).repeat_interleave(6), 3, "raw")
    info = alg.update(batches)
    assert info["penalty"] == pytest.approx(expected.item(), rel=1e-6) and info["weight"] == 0.5


def test_mmd_baseline_ignores_the_unlabelled_target_unless_asked():
    """DomainBed's MMD.update ignores its `unlabeled` argument; use_unlabeled=True makes the target one more group."""
    batches = _batches()
    target = torch.randn(6, 5, generator=torch.Generator().manual_seed(9)) + 3.0
    x = torch.cat([b[0] for b in batches] + [target])
    ignoring = MMD(_featurizer(), 6, 4, 3)
    z = ignoring.featurizer(x).detach()
    three = general_penalty(z[:18], torch.arange(3).repeat_interleave(6), 3, "raw").item()
    four = general_penalty(z, torch.arange(4).repeat_interleave(6), 4, "raw").item()
    assert three != pytest.approx(four)
    assert ignoring.update(batches, unlabeled=target)["penalty"] == pytest.approx(three, rel=1e-6)
    using = MMD(_featurizer(), 6, 4, 3, use_unlabeled=True)
    assert using.update(batches, unlabeled=target)["penalty"] == pytest.approx(four, rel=1e-6)


def test_domain_invariant_objective_and_ramp():
    alg = DomainInvariant(_featurizer(), 6, 4, 3, invariance="compressed", lam=3.0, total_steps=10)
    assert alg.weight() == 0.0                                            # r(0) = 0
    batches = _batches()
    info = alg.update(batches)
    assert info["loss"] == pytest.approx(info["risk"])                    # weight 0 at the first step
    assert alg.weight() == pytest.approx(3.0 * ramp(1, 10))
    risk = mean_source_risk(torch.zeros(18, 4), batches)
    assert float(risk) == pytest.approx(np.log(4))                        # uniform logits: log C per source


def test_ramp_length_follows_the_run_unless_given():
    alg = DomainInvariant(_featurizer(), 6, 4, 3, invariance="general", lam=2.0)
    with pytest.raises(ValueError, match="ramp's length is unknown"):
        alg.weight()
    alg.set_run_length(40)
    alg.update_count.fill_(40)
    assert alg.weight() == pytest.approx(2.0 * ramp(40, 40)) and ramp(40, 40) > 0.999
    fixed = DomainInvariant(_featurizer(), 6, 4, 3, invariance="general", lam=2.0, total_steps=10)
    fixed.set_run_length(40)
    assert fixed.total_steps == 10
    assert DomainInvariant(_featurizer(), 6, 4, 3, invariance="general", lam=2.0, use_ramp=False).weight() == 2.0


def test_erm_loss_is_pooled_cross_entropy_and_training_is_deterministic():
    def run():
        alg = ERM(_featurizer(seed=3), 6, 4, 3)
        return [alg.update(_batches(seed=s))["loss"] for s in range(5)]
    assert run() == run()


@pytest.mark.parametrize("make, message", [
    (lambda: DomainInvariant(_featurizer(), 6, 4, 3, invariance="general", lam=-1.0, total_steps=5), "lambda"),
    (lambda: DomainInvariant(_featurizer(), 6, 4, 3, invariance="joint", lam=1.0, total_steps=5), "invariance"),
    (lambda: CORAL(_featurizer(), 6, 4, 3, gamma=-0.1), "gamma"),
    (lambda: AdversarialConfig(mode="wgan"), "mode"),
])
def test_bad_settings_are_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_minibatches_are_rejected():
    alg = ERM(_featurizer(), 6, 4, 3)
    with pytest.raises(ValueError, match="one minibatch per source domain"):
        alg.update(_batches(k=2))
    bad = _batches()
    bad[1] = (bad[1][0], torch.full((6,), 7))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        alg.update(bad)


def test_an_unlabelled_target_batch_joins_the_general_penalty_only():
    batches = _batches()
    target = torch.randn(6, 5, generator=torch.Generator().manual_seed(9)) + 3.0          # a shifted domain
    general = DomainInvariant(_featurizer(), 6, 4, 3, invariance="general", lam=1.0, use_ramp=False)
    z = general.featurizer(torch.cat([b[0] for b in batches] + [target]))
    expected = general_penalty(z, torch.arange(4).repeat_interleave(6), 4)                 # the target is group 3
    assert general.penalty(z, batches, n_unlabeled=6).item() == pytest.approx(expected.item(), rel=1e-6)
    assert general.penalty(z, batches, n_unlabeled=6).item() > general.penalty(z[:18], batches).item()
    compressed = DomainInvariant(_featurizer(), 6, 4, 3, invariance="compressed", lam=1.0, total_steps=5)
    zc = compressed.featurizer(torch.cat([b[0] for b in batches] + [target]))
    assert compressed.penalty(zc, batches, n_unlabeled=6).item() == compressed.penalty(zc[:18], batches).item()
    expected = mean_source_risk(general.classifier(z[:18]), batches) + 1.0 * general.penalty(z, batches, 6)  # no ramp
    info = general.update(batches, unlabeled=target)                     # the loss at the weights before the step
    assert info["loss"] == pytest.approx(expected.item(), rel=1e-6)


def _domainbed_gaussian_mmd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """DomainBed's AbstractMMD.mmd, gaussian kernel: bandwidths 1e-3..1e3 on squared distances clamped at 1e-30."""
    def kernel(u, v):
        d = (u.pow(2).sum(1, keepdim=True) + v.pow(2).sum(1) - 2 * u @ v.T).clamp_min(1e-30)
        return sum(torch.exp(-g * d) for g in (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0))
    return kernel(a, a).mean() + kernel(b, b).mean() - 2 * kernel(a, b).mean()


def _domainbed_mean_cov(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """DomainBed's AbstractMMD.mmd, mean_cov kernel (CORAL)."""
    ca, cb = a - a.mean(0, keepdim=True), b - b.mean(0, keepdim=True)
    cov_a, cov_b = ca.T @ ca / (len(a) - 1), cb.T @ cb / (len(b) - 1)
    return (a.mean(0) - b.mean(0)).pow(2).mean() + (cov_a - cov_b).pow(2).mean()


@pytest.mark.parametrize("algorithm, distance", [(MMD, _domainbed_gaussian_mmd), (CORAL, _domainbed_mean_cov)])
def test_featurizer_per_domain_gives_domainbeds_mmd_and_coral_with_batchnorm(algorithm, distance):
    """With a BatchNorm featurizer, `featurizer_per_domain=True` is DomainBed's AbstractMMD.update (one featurizer
    pass per domain's batch, mean CE + gamma * mean pairwise distance): the same loss, gradients and BatchNorm running
    statistics as that update written out here (float64). The default pooled pass normalises with every domain's
    statistics and gives other gradients."""
    import itertools

    batches = [(x.double() + 3.0 * i, y) for i, (x, y) in enumerate(_batches())]   # domains apart in feature means

    def bn_featurizer():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.ReLU())

    reference = algorithm(bn_featurizer(), 6, 4, 3, gamma=0.5).double()
    feats = [reference.featurizer(x) for x, _ in batches]
    objective = sum(nn.functional.cross_entropy(reference.classifier(f), y) for f, (_, y) in zip(feats, batches)) / 3
    penalty = sum(distance(feats[i], feats[j]) for i, j in itertools.combinations(range(3), 2)) / 3
    (objective + 0.5 * penalty).backward()
    for per_domain in (True, False):
        alg = algorithm(bn_featurizer(), 6, 4, 3, gamma=0.5, featurizer_per_domain=per_domain).double()
        info = alg.update(batches)             # Adam's step leaves the gradients of the loss in .grad
        grads_match = all(torch.allclose(p.grad, q.grad, atol=1e-10)
                          for p, q in zip(alg.parameters(), reference.parameters()))
        bn, ref_bn = alg.featurizer[1], reference.featurizer[1]
        stats_match = torch.allclose(bn.running_mean, ref_bn.running_mean, atol=1e-12) and \
            torch.allclose(bn.running_var, ref_bn.running_var, atol=1e-12)
        assert grads_match == stats_match == per_domain
        if per_domain:
            assert info["risk"] == pytest.approx(objective.item(), rel=1e-12)
            assert info["penalty"] == pytest.approx(penalty.item(), rel=1e-10)
