"""One distillation iteration (5 student steps, then one generator step) of the base game, DFAD on MNIST at the quick
settings (LeNet5 teacher, LeNet5-half student, GeneratorA with ngf 16, batch 64, SGD / Adam), as `Distiller` runs
it against the official DFAD loop (VainF/Data-Free-Adversarial-Distillation, `DFAD_mnist.py`): there the
teacher keeps requires_grad, so its student-step forward builds a graph and the generator step's backward also
computes teacher and student weight gradients (discarded), and the generator is a plain contiguous module.
`Distiller` freezes the teacher, stops parameter gradients of S in the generator step and, on a CPU, keeps the
generator channels-last (`experiment.channels_last_generator`). Both start from the same weights and draw the same
z. Equality: the student's and the generator's weights after the same iterations, against the official loop run on
Distiller's channels-last generator (a contiguous one rounds its convolutions differently, and Adam's first steps
magnify such differences to ~1e-3).
Speed: iterations per second, Distiller / official (contiguous, and channels-last). One thread.

Three more cases, one thread each:
- Evaluation batch: the LeNet5-half student scores the 10k MNIST test images in batches of `EVAL_BATCH` (the
  experiment's) against batches of 1 000 (`nets.scoring`'s default); equality: identical logits.
- Seed-stacking bound: each network of a quick run on 3 x 32 samples in one call against three calls on 32 (a
  student step's share of G's samples at B 64, split batch). Stacking 3 seeds' networks into one call does the
  same arithmetic on batched weights, so it cannot beat one network on the 3x batch: the ratio bounds what seeds
  as a batch dimension would save per call. Equality: the frozen teacher's logits (eval mode, so each sample's
  logits do not depend on its batch) in one call against three, max |difference|.
- Generator layout: the MNIST quick generator as `make_distiller` builds it on a CPU (`channels_last_generator`: the
  first BatchNorm's output converted to channels-last) against the channels-last module alone, on a student step's
  32 samples without gradient and on the generator step's 64 samples with the backward pass. Equality: samples and
  parameter gradients bit for bit."""

import copy
import time

import torch
from torch.nn import functional as F

from benchmarks import timed
from reprolab.methods.mad.experiment import EVAL_BATCH, MADExperimentConfig, channels_last_generator, make_distiller
from reprolab.methods.mad.teachers import RECIPES, build_network, load_split
from reprolab.nets import GeneratorA
from reprolab.nets.scoring import batched

ITERATIONS = 20
REPEATS = 10


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


@torch.no_grad()
def logits_in_batches(model, x: torch.Tensor, batch: int) -> torch.Tensor:
    return batched(model, x, batch)


def evaluation_batch() -> None:
    torch.manual_seed(0)
    student = build_network("lenet5_half").eval()
    x = load_split("mnist", "test")[0]
    ours, default = (timed(lambda b=b: logits_in_batches(student, x, b), 3) for b in (EVAL_BATCH, 1000))
    same = torch.equal(logits_in_batches(student, x, EVAL_BATCH), logits_in_batches(student, x, 1000))
    print(f"evaluation of 10k MNIST test images: batches of {EVAL_BATCH} {ours:.3f} s, of 1 000 {default:.3f} s "
          f"(speed-up {default / ours:.2f}x); logits {'identical' if same else 'DIFFERENT'}")


def stacking_bound() -> None:
    torch.manual_seed(0)
    cfg = MADExperimentConfig()
    for name, case in (("mnist", cfg.mnist), ("digits", cfg.digits)):
        teacher = build_network(RECIPES[case.teacher].arch).eval()
        student = build_network(case.student)
        generator = GeneratorA(case.nz, case.ngf, case.img_size, case.channels).to(memory_format=torch.channels_last)
        z = torch.randn(96, case.nz)
        with torch.no_grad():
            x = generator(z)

        def student_step(xb):
            student.zero_grad()
            student(xb).abs().mean().backward()

        calls = {"generator": lambda zb: generator(zb), "teacher": lambda xb: teacher(xb), "student": student_step}
        inputs = {"generator": z, "teacher": x, "student": x}
        ratios = []
        for part, fn in calls.items():
            data = inputs[part]
            with torch.set_grad_enabled(part == "student"):
                one = timed(lambda: fn(data), REPEATS)
                three = timed(lambda: [fn(data[i:i + 32]) for i in range(0, 96, 32)], REPEATS)
            ratios.append(f"{part} {three / one:.2f}x")
        gap = (logits_in_batches(teacher, x, 96) - logits_in_batches(teacher, x, 32)).abs().max().item()
        print(f"{name}: 3 calls on 32 samples / 1 call on 96: {', '.join(ratios)}; teacher logits max |difference| "
              f"{gap:.1e}")


def generator_layout() -> None:
    case = MADExperimentConfig().mnist
    torch.manual_seed(0)
    plain = GeneratorA(case.nz, case.ngf, case.img_size, case.channels).to(memory_format=torch.channels_last)
    fast = channels_last_generator(copy.deepcopy(plain))
    z32, z64 = torch.randn(32, case.nz), torch.randn(64, case.nz)

    def forward_backward(generator):
        generator.zero_grad()
        generator(z64).square().mean().backward()
        return [p.grad.clone() for p in generator.parameters()]

    with torch.no_grad():
        sample = [timed(lambda g=g: g(z32), REPEATS * 3) for g in (plain, fast)]
        same_samples = torch.equal(plain(z32), fast(z32))
    step = [timed(lambda g=g: forward_backward(g), REPEATS) for g in (plain, fast)]
    same_grads = all(torch.equal(a, b) for a, b in zip(forward_backward(plain), forward_backward(fast)))
    print(f"MNIST generator layout, channels-last alone / with the converted BatchNorm output: 32 samples "
          f"{sample[0] * 1e3:.2f} / {sample[1] * 1e3:.2f} ms ({sample[0] / sample[1]:.2f}x), forward and backward on "
          f"64 {step[0] * 1e3:.2f} / {step[1] * 1e3:.2f} ms ({step[0] / step[1]:.2f}x); samples "
          f"{'identical' if same_samples else 'DIFFERENT'}, gradients {'identical' if same_grads else 'DIFFERENT'}")


def main() -> None:
    torch.set_num_threads(1)
    evaluation_batch()
    stacking_bound()
    generator_layout()
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
            generator, opt_g = distiller.generator, distiller.generator_optimizer
            if name == "official":                  # a plain contiguous module with the same weights
                generator = GeneratorA(case.nz, case.ngf, case.img_size, case.channels)
                generator.load_state_dict(distiller.generator.state_dict())
                opt_g = torch.optim.Adam(generator.parameters(), lr=case.generator_lr)
            for _ in range(ITERATIONS):
                official_iteration(plain_teacher, distiller.student, generator, distiller.student_optimizer, opt_g,
                                   distiller.z_rng, distiller.cfg.batch_size, case.nz)
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
