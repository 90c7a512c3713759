import copy
import math

import pytest
import torch
from torch.nn import functional as F

from reprolab.methods.mad.distiller import (READ_EVERY, DistillConfig, Distiller, attention_loss, divergence,
                                            ema_update, frozen_bn_statistics)
from reprolab.methods.mad.probes import DriftProbe, ForgettingProbe, js_divergence
from reprolab.nets import GeneratorA, LeNet5, SmallCNN

NZ, B = 8, 16


def _parts(seed=0):
    torch.manual_seed(seed)
    teacher, student = SmallCNN(4), SmallCNN(2)
    generator = GeneratorA(NZ, 4, img_size=8, channels=1)
    return teacher, student, generator


def _distiller(cfg, seed=0):
    teacher, student, generator = _parts(seed)
    return Distiller(teacher, student, generator, cfg,
                     student_optimizer=torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9),
                     generator_optimizer=torch.optim.Adam(generator.parameters(), lr=1e-3), seed=seed)


def _reference_dfad(iterations, n_s, seed=0):
    """DFAD written out as in its code: n_s student steps on fresh z (samples without gradient), one generator step
    with L_G = -L1; independent of the Distiller class."""
    teacher, student, generator = _parts(seed)
    teacher.eval()
    opt_s = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3)
    rng = torch.Generator().manual_seed(seed)
    for _ in range(iterations):
        for _ in range(n_s):
            z = torch.randn(B, NZ, generator=rng)
            with torch.no_grad():
                x = generator(z)
                t = teacher(x)
            loss = F.l1_loss(student(x), t)
            opt_s.zero_grad()
            loss.backward()
            opt_s.step()
        z = torch.randn(B, NZ, generator=rng)
        x = generator(z)
        loss_g = -F.l1_loss(student(x), teacher(x))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return student, generator


def test_lambda1_zero_reproduces_dfad_bit_for_bit_and_mad_does_not():
    ref_student, ref_generator = _reference_dfad(4, 3)
    base = _distiller(DistillConfig(batch_size=B, student_steps=3, lambda0=1.0, lambda1=0.0))
    for _ in range(4):
        base.iteration()
    for a, b in ((ref_student, base.student), (ref_generator, base.generator)):
        assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    mad = _distiller(DistillConfig(batch_size=B, student_steps=3, lambda0=1.0, lambda1=1.0))
    for _ in range(4):
        mad.iteration()
    assert not all(torch.equal(p, q) for p, q in zip(ref_student.parameters(), mad.student.parameters()))
    # the generator's own stream is untouched by the EMA branch: same z, so G differs only through the student
    assert mad.z_rng.get_state().equal(base.z_rng.get_state())


def _reference_abm(cycles, n_s, clip, seed=0, norms=None):
    """ABM written out as in the ZSKT code: per cycle one z, one generator step on G(z) with L_G = -KL (the mean over
    elements, the code's F.kl_div default) and a gradient-norm clip (the code's 5), then n_s student steps on G(z)
    regenerated from the same z with its gradient to G, as the code's loader makes them (the teacher's logits
    without), clipped alike; independent of the Distiller class."""
    teacher, student, generator = _parts(seed)
    teacher.eval()
    opt_s = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3)
    rng = torch.Generator().manual_seed(seed)

    def kl(s, t):               # the code's reduction "mean": the sum over the B x C elements / (B C)
        return F.kl_div(F.log_softmax(s, dim=1), F.softmax(t, dim=1), reduction="sum") / t.numel()

    for _ in range(cycles):
        z = torch.randn(B, NZ, generator=rng)
        x = generator(z)
        loss_g = -kl(student(x), teacher(x))
        opt_g.zero_grad()
        loss_g.backward()
        norm = torch.nn.utils.clip_grad_norm_(generator.parameters(), clip)
        if norms is not None:
            norms.append(float(norm))
        opt_g.step()
        for _ in range(n_s):
            x = generator(z)
            with torch.no_grad():
                t = teacher(x)
            loss = kl(student(x), t)
            opt_s.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), clip)
            opt_s.step()
    return student, generator


def test_lambda1_zero_reproduces_abm_bit_for_bit():
    """At a clip of 0.01, which these small networks' gradients exceed (at the code's 5 it would never act)."""
    norms = []
    ref_student, ref_generator = _reference_abm(4, 3, clip=0.01, norms=norms)
    assert max(norms) > 0.01                                    # the clip acts
    base = _distiller(DistillConfig(loss="kl", kl_reduction="mean", order="abm", batch_size=B, student_steps=3,
                                    grad_clip=0.01, lambda0=1.0, lambda1=0.0))
    for _ in range(4):
        base.iteration()
    for a, b in ((ref_student, base.student), (ref_generator, base.generator)):
        assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_one_ema_update_is_the_convex_combination():
    a, b = GeneratorA(NZ, 4, 8), GeneratorA(NZ, 4, 8)
    for p in a.parameters():
        p.data.fill_(2.0)
    for p in b.parameters():
        p.data.fill_(-1.0)
    b.blocks[0].running_mean.fill_(3.0)
    ema_update(a, b, 0.95)
    assert all(torch.equal(p, torch.full_like(p, 0.95 * 2.0 + 0.05 * -1.0)) for p in a.parameters())
    assert torch.equal(a.blocks[0].running_mean, b.blocks[0].running_mean)
    c = copy.deepcopy(a)
    ema_update(c, b, 1.0)
    assert all(torch.equal(p, q) for p, q in zip(c.parameters(), a.parameters()))
    ema_update(c, b, 0.0)
    assert all(torch.equal(p, q) for p, q in zip(c.parameters(), b.parameters()))


def test_ema_generator_and_teacher_get_no_gradients_and_are_in_no_optimizer():
    d = _distiller(DistillConfig(batch_size=B, student_steps=2))
    before = copy.deepcopy(d.ema_generator.state_dict())
    for _ in range(3):
        d.iteration()
        assert all(p.grad is None and not p.requires_grad for p in d.ema_generator.parameters())
        assert all(p.grad is None for p in d.teacher.parameters())
    assert d.ema_generator.training and not d.teacher.training
    # the EMA moved towards G after the generator steps, but G~ was never an optimizer's parameter
    assert not all(torch.equal(before[k], v) for k, v in d.ema_generator.state_dict().items())
    teacher, student, generator = _parts()
    with pytest.raises(ValueError, match="must not be in an optimizer"):
        Distiller(teacher, student, generator, DistillConfig(),
                  student_optimizer=torch.optim.SGD(list(student.parameters()) + list(teacher.parameters()), lr=0.1),
                  generator_optimizer=torch.optim.Adam(generator.parameters()))


@pytest.mark.parametrize("freeze_bn", [False, True])
def test_generator_step_leaves_the_student_and_its_optimizer_untouched(freeze_bn):
    d = _distiller(DistillConfig(batch_size=B, student_steps=2, freeze_student_bn_in_g_step=freeze_bn))
    d.iteration()                                        # the optimizer now has momentum buffers
    params = [p.detach().clone() for p in d.student.parameters()]
    buffers = {k: v.clone() for k, v in d.student.named_buffers()}
    opt_state = copy.deepcopy(d.student_optimizer.state_dict())
    d.generator_step(*d.noise(B, d.z_rng))
    assert all(torch.equal(p, q) for p, q in zip(params, d.student.parameters()))
    new_state = d.student_optimizer.state_dict()["state"]
    assert all(torch.equal(opt_state["state"][k]["momentum_buffer"], v["momentum_buffer"])
               for k, v in new_state.items())
    moved = any(not torch.equal(buffers[k], v) for k, v in d.student.named_buffers() if "running" in k)
    assert moved != freeze_bn                            # DFAD lets the G step move S's BN statistics (trap 7)


def test_a_generator_step_raises_the_divergence_against_a_frozen_student():
    gains = []
    for trial in range(10):
        d = _distiller(DistillConfig(batch_size=64, student_steps=1, lambda1=0.0, lambda0=1.0), seed=trial)
        z, _ = d.noise(64, torch.Generator().manual_seed(100 + trial))

        def gap():                                       # both players as in training, no statistics moved
            with torch.no_grad(), frozen_bn_statistics(d.generator), frozen_bn_statistics(d.student):
                x = d.generator(z)
                return divergence(d.teacher(x), d.student(x), d.cfg).item()

        before = gap()
        d.generator_step(*d.noise(64, d.z_rng))
        gains.append(gap() - before)
    assert sum(gains) / len(gains) > 0


def test_divergences_by_hand():
    t, s = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[1.0, 0.0, 6.0]])
    assert divergence(t, s, DistillConfig(loss="l1")).item() == pytest.approx(5 / 3)
    p, q = F.softmax(t, 1), F.softmax(s, 1)
    kl = (p * (p.log() - q.log())).sum().item()
    assert divergence(t, s, DistillConfig(loss="kl")).item() == pytest.approx(kl, rel=1e-5)
    assert divergence(t, s, DistillConfig(loss="kl", kl_reduction="mean")).item() == pytest.approx(kl / 3, rel=1e-5)


def test_attention_loss_by_hand():
    t = torch.zeros(1, 2, 1, 2)
    t[0, :, 0, 0] = 1.0                                  # all attention on position 0
    s = torch.zeros(1, 2, 1, 2)
    s[0, :, 0, 1] = 1.0                                  # all on position 1
    assert attention_loss([t], [t]).item() == 0.0
    assert attention_loss([t], [s]).item() == pytest.approx(1.0)  # ((1-0)^2 + (0-1)^2) / 2


def test_js_divergence_by_hand():
    p, q = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert js_divergence(p, q).item() == pytest.approx(math.log(2))
    assert js_divergence(p, p).item() == 0.0


def test_probes_leave_the_generators_untouched_and_see_less_drift_in_the_ema():
    d = _distiller(DistillConfig(batch_size=B, student_steps=1, alpha=0.9))
    drift, forgetting = DriftProbe(d, n=64), ForgettingProbe(d, lag=2, n=32)
    drift.update(d)
    for it in range(1, 9):
        d.iteration()
        before = {k: v.clone() for k, v in d.generator.state_dict().items()}
        drift.update(d)
        if it % 2 == 0:
            forgetting.update(d, it)
        assert all(torch.equal(before[k], v) for k, v in d.generator.state_dict().items())
    s = drift.summary()
    assert s["steps"] == 8 and s["js_step_G_ema"] < s["js_step_G"]
    assert forgetting.summary()["pools"] == 3            # pools of iterations 2, 4, 6 re-tested at 4, 6, 8


def test_bad_configs_and_inputs_are_named():
    with pytest.raises(ValueError, match=r"config key 'loss': 'l2' is not one of \['l1', 'kl'\]"):
        DistillConfig(loss="l2")
    with pytest.raises(ValueError, match="alpha"):
        DistillConfig(alpha=1.5)
    with pytest.raises(ValueError, match="not both 0"):
        DistillConfig(lambda0=0.0, lambda1=0.0)
    with pytest.raises(ValueError, match="z must be"):
        GeneratorA(NZ, 4, 8)(torch.zeros(2, NZ + 1))
    with pytest.raises(ValueError, match="32x32"):
        LeNet5()(torch.zeros(1, 1, 28, 28))
    conditional = GeneratorA(NZ, 4, 8, conditional="sum", num_classes=10)
    assert conditional(torch.zeros(3, NZ), torch.tensor([0, 1, 2])).shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match="needs labels"):
        conditional(torch.zeros(3, NZ))


@pytest.mark.parametrize("order", ["dfad", "abm"])
def test_split_batch_splits_only_the_students_samples(order):
    """The generator step sees the full batch B; each student step B/2 from G and B/2 from G~."""
    distiller = _distiller(DistillConfig(batch_size=B, split_batch=True, student_steps=2, order=order))
    sizes = {"generator": [], "student": []}
    original_g, original_s = distiller.generator_step, distiller.student_step
    distiller.generator_step = lambda z, y=None: sizes["generator"].append(len(z)) or original_g(z, y)
    distiller.student_step = lambda z, y=None: sizes["student"].append(len(z)) or original_s(z, y)
    distiller.iteration()
    assert sizes == {"generator": [B], "student": [B // 2, B // 2]}


def test_a_probe_of_g_alone_measures_the_same_drift_of_g():
    """A probe of G alone (ema=False, for a base distiller) skips G~ but gives G's drift exactly as the full probe
    does."""
    d = _distiller(DistillConfig(batch_size=B, student_steps=1, lambda0=1.0, lambda1=0.0))
    both, g_only = DriftProbe(d, n=32), DriftProbe(d, n=32, ema=False)
    for probe in (both, g_only):
        probe.update(d)
    for _ in range(4):
        d.iteration()
        for probe in (both, g_only):
            probe.update(d)
    full, alone = both.summary(), g_only.summary()
    assert alone == {"js_step_G": full["js_step_G"], "steps": 4} and full["js_step_G"] > 0


def test_iterations_read_their_losses_once_every_read_every_iterations(loop_reads):
    d = _distiller(DistillConfig(student_steps=2, batch_size=B))
    probe = DriftProbe(d, n=8)
    probe.update(d)                                       # as the experiment does before the first iteration
    for _ in range(2 * READ_EVERY):
        info = d.iteration()
        probe.update(d)
    assert all(v.dim() == 0 and not v.requires_grad for v in info.values())
    # two reads (student, generator losses) and one of the probe's divergences every READ_EVERY iterations
    assert len(loop_reads) == 6, loop_reads


def test_a_non_finite_loss_raises_at_the_next_read_naming_its_iteration():
    d = _distiller(DistillConfig(student_steps=2, batch_size=B))
    d.iteration()
    assert [len(rows) for rows in d.read_losses().values()] == [2, 1]
    with torch.no_grad():
        next(d.student.parameters()).fill_(float("nan"))
    d.iteration()
    with pytest.raises(FloatingPointError, match="loss_s is nan at step 1"):
        d.read_losses()


def test_a_checkpoint_reads_the_kept_losses_and_keeps_the_iteration_count():
    d = _distiller(DistillConfig(student_steps=2, batch_size=B))
    d.iteration(), d.iteration()
    state = d.checkpoint_objects()["iterations"].state_dict()
    assert state == {"iterations": 2} and len(d.student_losses) == len(d.generator_losses) == 0
    resumed = _distiller(DistillConfig(student_steps=2, batch_size=B))
    resumed.checkpoint_objects()["iterations"].load_state_dict(state)
    assert resumed.iterations == 2
    with torch.no_grad():
        next(d.student.parameters()).fill_(float("nan"))
    d.iteration()
    with pytest.raises(FloatingPointError, match="loss_s is nan at step 2"):
        d.checkpoint_objects()["iterations"].state_dict()


def test_the_drift_probe_sums_the_divergences_in_the_order_they_were_computed():
    d = _distiller(DistillConfig(student_steps=1, batch_size=B))
    probe = DriftProbe(d, n=8)
    probe.update(d)
    by_hand = {"G": 0.0, "G_ema": 0.0, "G_vs_ema": 0.0}
    for _ in range(READ_EVERY + 7):                      # one addition at READ_EVERY updates, one at state_dict
        d.iteration()
        previous = probe.previous
        probe.update(d)
        for name in ("G", "G_ema"):
            by_hand[name] += js_divergence(probe.previous[name], previous[name]).item()
        by_hand["G_vs_ema"] += js_divergence(probe.previous["G"], probe.previous["G_ema"]).item()
        if probe.count == READ_EVERY:
            assert probe.totals == by_hand and not probe._pending
    assert probe.state_dict()["totals"] == by_hand        # bit for bit
    assert probe.summary()["js_step_G"] == by_hand["G"] / (READ_EVERY + 7)
