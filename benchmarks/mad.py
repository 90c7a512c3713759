"""One distillation iteration (5 student steps, then one generator step) of the base game, DFAD on MNIST at the quick
settings (LeNet5 teacher, LeNet5-half student, GeneratorA with ngf 16, batch 64, SGD / Adam), as `Distiller` runs
it against the official DFAD loop (VainF/Data-Free-Adversarial-Distillation, `DFAD_mnist.py`): there the
teacher keeps requires_grad, so its student-step forward builds a graph and the generator step's backward also
computes teacher and student weight gradients (discarded), and the generator is a plain contiguous module.
`Distiller` freezes the teacher, stops parameter gradients of S in the generator step and, on a CPU, keeps the
generator channels-last. Both start from the same weights and draw the same z. Equality: the student's and the
generator's weights after the same iterations, against the official loop run on the channels-last generator (a
contiguous one rounds its convolutions differently, and Adam's first steps magnify such differences to ~1e-3).
Speed: iterations per second, Distiller / official (contiguous, and channels-last). One thread."""

import copy
import time

import torch
from torch.nn import functional as F

from reprolab.methods.mad.experiment import MADExperimentConfig, make_distiller
from reprolab.methods.mad.teachers import build_network

ITERATIONS = 20


def official_iteration(teacher, student, generator, opt_s, opt_g, z_rng, batch: int, nz: int) -> None:
    for _ in range(5):
        z = torch.randn(batch, nz, generator=z_rng)
        opt_s.zero_grad()
        fake = generator(z).detach()
        t_logit = teacher(fake)
        loss_s = F.l1_loss(student(fake), t_logit.detach())
        loss_s.backward()
        opt_s.step()
    z = torch.randn(batch, nz, generator=z_rng)
    opt_g.zero_grad()
    fake = generator(z)
    loss_g = -F.l1_loss(student(fake), teacher(fake))
    loss_g.backward()
    opt_g.step()


def main() -> None:
    torch.set_num_threads(1)
    case = MADExperimentConfig().mnist
    torch.manual_seed(0)
    teacher = build_network("lenet5").eval()     # the MNIST teacher's architecture (random weights suffice)
    seconds, weights = {}, {}
    # "official, channels-last" is the official loop on Distiller's memory format: the equality reference
    for name in ("official", "official, channels-last", "distiller") * 2:   # the second, warm, pass is kept
        distiller = make_distiller(case, "base", copy.deepcopy(teacher), seed=1, device="cpu")
        start = time.perf_counter()
        if name == "distiller":
            for _ in range(ITERATIONS):
                distiller.iteration()
        else:
            plain_teacher = copy.deepcopy(teacher).requires_grad_(True)
            generator = distiller.generator
            if name == "official":
                generator = generator.to(memory_format=torch.contiguous_format)
            for _ in range(ITERATIONS):
                official_iteration(plain_teacher, distiller.student, generator, distiller.student_optimizer,
                                   distiller.generator_optimizer, distiller.z_rng, distiller.cfg.batch_size,
                                   case.nz)
        seconds[name] = time.perf_counter() - start
        weights[name] = [p.detach().clone() for m in (distiller.student, distiller.generator)
                         for p in m.parameters()]
    gap = max((a - b).abs().max().item() for a, b in zip(weights["distiller"], weights["official, channels-last"]))
    rate = {name: ITERATIONS / s for name, s in seconds.items()}
    print(f"DFAD MNIST, {ITERATIONS} iterations of batch {case.distill.batch_size}: Distiller {rate['distiller']:.2f} "
          f"it/s, official loop {rate['official']:.2f} it/s (speed-up {rate['distiller'] / rate['official']:.2f}x), "
          f"official loop on a channels-last generator {rate['official, channels-last']:.2f} it/s (speed-up "
          f"{rate['distiller'] / rate['official, channels-last']:.2f}x); student and generator weights vs the latter: "
          f"max |difference| {gap:.1e} ({'identical' if gap == 0 else 'DIFFERENT'})")
