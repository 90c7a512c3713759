"""Data-free adversarial distillation (DFAD, ZSKT/ABM) and Momentum Adversarial Distillation (MAD) in one class.

The base game: a frozen teacher T, a student S, a generator G, z ~ N(0, I_nz):
    min_S max_G E_z D(T(G(z)), S(G(z)))
  D = "l1" (DFAD): mean_{b,c} |s - t| on logits;  "kl" (ABM): KL(softmax(t/tau) || softmax(s/tau)), reduction
  "batchmean" (sum over classes, mean over batch) or "mean" (the ABM code: batchmean / C).
MAD: an EMA copy G~ of the generator, never trained, run in train mode, updated after every generator
step (theta~ <- alpha theta~ + (1 - alpha) theta, BN buffers copied); the student trains on both:
    L_S = lambda0 D(T(x), S(x)) + lambda1 D(T(x~), S(x~)),  x = G(z), x~ = G~(z'), z and z' independent
and only G plays the adversary: L_G = -D(T(G(z)), S(G(z))) [+ lambda_ce CE(T(G(z, y)), y) + lambda_bn BN prior].
lambda1 = 0 is the base method: z' comes from its own random stream, so the main stream is unchanged.
Orders: "dfad" = n_s student steps, each on fresh z, then one generator step; "abm" = one z per cycle, the
generator step first, then n_s student steps on that z (regenerated without gradient).
Optional: attention transfer beta_at sum_l mean_{b,j} (a_S^l - a_T^l)^2, a^l = channel mean of squared
activations, flattened, L2-normalised per sample (needs `stage_outputs` on both networks; ABM beta 250); BN
prior lambda_bn sum_l (||mu_l(x) - mu_l^T||_2 + ||var_l(x) - var_l^T||_2) at the teacher's BN inputs.
Defaults: DFAD-MNIST's L1 and n_s 5; B 64 (DFAD: 512); lambda = (0.5, 0.5) by design; alpha 0.95 (best in the
paper's ablation, secondary source).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from typing import Literal, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from reprolab.runtime.config import check_options
from reprolab.runtime.fast import FastPath, autocast, check_fast_path, fast_model
from reprolab.runtime.train import StepLosses

# iterations between reads of the kept losses (`Distiller.read_losses`); a non-finite loss raises within them
READ_EVERY = 50


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    """Settings of the `Distiller`: the divergence D (`loss` "l1" = DFAD, "kl" = ABM), the loop `order`, n_s
    `student_steps`, the batch B per generator, the EMA momentum `alpha`, the weights `lambda0` (G's samples) and
    `lambda1` (G~'s; 0 = the base method) and the optional ABM and MAD extras. Defaults follow DFAD on MNIST (L1,
    n_s 5), with alpha 0.95 from a secondary source, lambda = (0.5, 0.5) by design and B 64 (DFAD: 512)."""

    loss: Literal["l1", "kl"] = "l1"                     # "l1" (DFAD) or "kl" (ABM)
    kl_reduction: Literal["batchmean", "mean"] = "batchmean"   # or "mean" (ABM code)
    temperature: float = 1.0
    order: Literal["dfad", "abm"] = "dfad"
    student_steps: int = 5            # n_s: DFAD 5, ABM 10
    batch_size: int = 64              # B per generator (DFAD MNIST 512, ABM 128)
    alpha: float = 0.95               # EMA momentum (secondary source)
    lambda0: float = 0.5              # weight of D on G's samples
    lambda1: float = 0.5              # weight of D on G~'s samples; 0 = the base method
    split_batch: bool = False         # student: B/2 from G and B/2 from G~ (equal samples per student step);
                                      # the generator step keeps the full batch B
    grad_clip: float = 0.0            # gradient-norm clip of both players (ABM 5)
    beta_at: float = 0.0              # attention transfer (ABM 250)
    lambda_ce: float = 0.0            # conditional generator: CE(T(G(z, y)), y)
    lambda_bn: float = 0.0            # BN-statistics prior: off, as in the DFAD and ZSKT code (neither has one)
    freeze_student_bn_in_g_step: bool = False  # trap 7: DFAD lets the G step move S's BN running statistics

    def __post_init__(self):
        check_options(self)
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {self.alpha}")
        if self.student_steps < 1 or self.batch_size < 2:
            raise ValueError("student_steps must be >= 1 and batch_size >= 2")
        if min(self.lambda0, self.lambda1) < 0 or self.lambda0 + self.lambda1 == 0:
            raise ValueError(f"lambda0, lambda1 must be >= 0 and not both 0, got {self.lambda0}, {self.lambda1}")


def divergence(teacher_logits: torch.Tensor, student_logits: torch.Tensor, cfg: DistillConfig) -> torch.Tensor:
    """D(T(x), S(x)): L1 on logits, or KL(softmax(t / tau) || softmax(s / tau))."""
    if cfg.loss == "l1":
        return F.l1_loss(student_logits, teacher_logits)
    tau = cfg.temperature
    kl = F.kl_div(F.log_softmax(student_logits / tau, dim=1), F.softmax(teacher_logits / tau, dim=1),
                  reduction="batchmean")
    return kl / teacher_logits.shape[1] if cfg.kl_reduction == "mean" else kl


def attention_map(activation: torch.Tensor) -> torch.Tensor:
    """a = channel mean of squared activations, flattened, L2-normalised per sample (ZSKT)."""
    return F.normalize(activation.pow(2).mean(dim=1).flatten(1), dim=1)


def attention_loss(teacher_maps: list[torch.Tensor], student_maps: list[torch.Tensor]) -> torch.Tensor:
    """sum_l mean_{b,j} (a_S^l - a_T^l)^2."""
    return sum((attention_map(s) - attention_map(t)).pow(2).mean() for t, s in zip(teacher_maps, student_maps))


def ema_update(ema: nn.Module, model: nn.Module, alpha: float) -> None:
    """theta~ <- alpha theta~ + (1 - alpha) theta for parameters; buffers (BN statistics) are copied."""
    with torch.no_grad():
        for p_ema, p in zip(ema.parameters(), model.parameters()):
            p_ema.mul_(alpha).add_(p, alpha=1.0 - alpha)
        for b_ema, b in zip(ema.buffers(), model.buffers()):
            b_ema.copy_(b)


@contextlib.contextmanager
def frozen_bn_statistics(module: nn.Module) -> Iterator[None]:
    """Forward passes in train mode (batch statistics) that leave the running statistics untouched."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(norms, saved):
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)


@contextlib.contextmanager
def no_parameter_grads(module: nn.Module) -> Iterator[None]:
    """Gradients still flow through `module` to its input, but none accumulate on its parameters."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


class IterationCount:
    """A `Distiller`'s iteration count as a checkpoint object. Saving it first reads the losses kept since the last
    read, so a checkpoint never holds steps whose losses were not checked."""

    def __init__(self, distiller: "Distiller"):
        self.distiller = distiller

    def state_dict(self) -> dict:
        self.distiller.read_losses()
        return {"iterations": self.distiller.iterations}

    def load_state_dict(self, state: dict) -> None:
        self.distiller.iterations = int(state["iterations"])


class Distiller:
    """Trains `student` to match the frozen `teacher` on samples of `generator` (and of its EMA when lambda1 > 0).

    The teacher is put in eval mode with requires_grad False; the EMA generator is a deep copy of `generator`
    with requires_grad False, kept in train mode and in no optimizer. Optimizers and schedulers are the caller's
    (one scheduler step per `iteration`).

    No step waits for a loss to reach the host: the losses stay tensors on the device (`iteration` returns them)
    and are read in one transfer every `READ_EVERY` iterations, at a checkpoint and when the caller calls
    `read_losses`, which raises FloatingPointError naming the iteration of the first non-finite student or generator
    loss. Steps run alone (`student_step`, `generator_step`) keep their losses until `read_losses`.
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, generator: nn.Module, cfg: DistillConfig, *,
                 student_optimizer: torch.optim.Optimizer, generator_optimizer: torch.optim.Optimizer,
                 schedulers: tuple = (), seed: int = 0, device: str | torch.device = "cpu", num_classes: int = 0,
                 fast: FastPath = FastPath()):
        check_fast_path(fast, device)
        self.cfg, self.device, self.fast = cfg, torch.device(device), fast
        self.teacher, self.student, self.generator = teacher.eval(), student.train(), generator.train()
        teacher.requires_grad_(False)
        self.ema_generator = copy.deepcopy(generator).train().requires_grad_(False)
        self.student_optimizer, self.generator_optimizer, self.schedulers = (student_optimizer, generator_optimizer,
                                                                             tuple(schedulers))
        in_optimizers = {id(p) for opt in (student_optimizer, generator_optimizer) for g in opt.param_groups
                         for p in g["params"]}
        if any(id(p) in in_optimizers for p in list(teacher.parameters()) + list(self.ema_generator.parameters())):
            raise ValueError("the teacher and the EMA generator must not be in an optimizer")
        conditional = getattr(generator, "conditional", "uncond") != "uncond"
        if (cfg.lambda_ce > 0 or conditional) and num_classes < 2:
            raise ValueError("a conditional generator or lambda_ce > 0 needs num_classes >= 2")
        self.num_classes, self.conditional = num_classes, conditional
        self.nz = generator.nz
        self.z_rng = torch.Generator(self.device).manual_seed(seed)
        self.z_ema_rng = torch.Generator(self.device).manual_seed(seed + 1_000_003)   # independent z'
        self.iterations = 0
        self.student_losses = StepLosses(finite=("loss_s",))
        self.generator_losses = StepLosses(finite=("loss_g",))
        self._bn_targets = self._teacher_bn_hooks() if cfg.lambda_bn > 0 else None
        for module in (self.teacher, self.student, self.generator, self.ema_generator):   # each compiled alone
            fast_model(module, fast)

    # ----- sampling -------------------------------------------------------------------------------------------
    def noise(self, n: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = torch.randn(n, self.nz, generator=rng, device=self.device)
        y = torch.randint(self.num_classes, (n,), generator=rng, device=self.device) if self.conditional else None
        return z, y

    def generate(self, generator: nn.Module, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        with autocast(self.fast, self.device):
            return generator(z, y) if self.conditional else generator(z)

    def _batch_sizes(self) -> tuple[int, int]:
        b = self.cfg.batch_size
        if self.cfg.lambda1 == 0:
            return b, 0
        return (b - b // 2, b // 2) if self.cfg.split_batch else (b, b)

    # ----- losses ---------------------------------------------------------------------------------------------
    def _student_term(self, x: torch.Tensor) -> torch.Tensor:
        with autocast(self.fast, self.device):
            with torch.no_grad():
                t = self.teacher(x)
            loss = divergence(t, self.student(x), self.cfg)
            if self.cfg.beta_at > 0:
                with torch.no_grad():
                    t_maps = self.teacher.stage_outputs(x)
                loss = loss + self.cfg.beta_at * attention_loss(t_maps, self.student.stage_outputs(x))
        return loss

    def student_step(self, z, y=None) -> dict:
        """One student update on x = G(z) and (lambda1 > 0) x~ = G~(z'), both made without gradient."""
        cfg = self.cfg
        with torch.no_grad():
            x = self.generate(self.generator, z, y)
        loss = cfg.lambda0 * self._student_term(x) if cfg.lambda0 > 0 else 0.0
        info = {}
        if cfg.lambda1 > 0:
            z_ema, y_ema = self.noise(self._batch_sizes()[1], self.z_ema_rng)
            with torch.no_grad():
                x_ema = self.generate(self.ema_generator, z_ema, y_ema)
            ema_term = self._student_term(x_ema)
            loss = loss + cfg.lambda1 * ema_term
            info["loss_s_ema"] = ema_term.detach()
        self._descend(loss, self.student, self.student_optimizer)
        info = {"loss_s": loss.detach(), **info}
        self.student_losses.add(self.iterations, **info)
        return info

    def generator_step(self, z, y=None) -> dict:
        """One generator update: L_G = -D(T(G(z)), S(G(z))) (+ CE, + BN prior); S's parameters get no gradient."""
        cfg = self.cfg
        bn_context = frozen_bn_statistics(self.student) if cfg.freeze_student_bn_in_g_step else \
            contextlib.nullcontext()
        if self._bn_targets is not None:
            self._bn_targets.clear()            # keep only this step's teacher statistics
        with no_parameter_grads(self.student), bn_context, autocast(self.fast, self.device):
            x = self.generate(self.generator, z, y)
            t = self.teacher(x)
            d = divergence(t, self.student(x), cfg)
            loss = -d
            if cfg.lambda_ce > 0:
                loss = loss + cfg.lambda_ce * F.cross_entropy(t, y)
            if self._bn_targets is not None:
                loss = loss + cfg.lambda_bn * self._bn_prior()
        self._descend(loss, self.generator, self.generator_optimizer)
        ema_update(self.ema_generator, self.generator, cfg.alpha)
        info = {"loss_g": loss.detach(), "d_g": d.detach()}
        self.generator_losses.add(self.iterations, **info)
        return info

    def iteration(self) -> dict:
        """One iteration (DFAD) or cycle (ABM); schedulers step once. The generator step always gets the full
        batch B: `split_batch` splits only the student's samples between G and G~. Returns the last student step's
        and the generator step's losses as detached tensors."""
        n_main, full = self._batch_sizes()[0], self.cfg.batch_size
        info: dict = {}
        if self.cfg.order == "abm":
            z, y = self.noise(full, self.z_rng)
            info.update(self.generator_step(z, y))
            for _ in range(self.cfg.student_steps):
                info.update(self.student_step(z[:n_main], None if y is None else y[:n_main]))
        else:
            for _ in range(self.cfg.student_steps):
                info.update(self.student_step(*self.noise(n_main, self.z_rng)))
            info.update(self.generator_step(*self.noise(full, self.z_rng)))
        for scheduler in self.schedulers:
            scheduler.step()
        self.iterations += 1
        if self.iterations % READ_EVERY == 0:
            self.read_losses()
        return info

    def read_losses(self) -> dict[str, list[dict[str, float]]]:
        """The losses of the steps since the last read, {"student": [...], "generator": [...]}, one {name: value}
        per step; raises FloatingPointError if one of them is not finite."""
        return {"student": self.student_losses.read(), "generator": self.generator_losses.read()}

    # ----- BN prior -------------------------------------------------------------------------------------------
    def _teacher_bn_hooks(self) -> list:
        norms = [m for m in self.teacher.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            raise ValueError("lambda_bn > 0 needs a teacher with BatchNorm layers")
        records = []

        def hook(module, inputs, _output):
            x = inputs[0].transpose(0, 1).flatten(1)
            records.append((x.mean(dim=1), x.var(dim=1, unbiased=False), module))

        for m in norms:
            m.register_forward_hook(hook)
        return records

    def _bn_prior(self) -> torch.Tensor:
        records = self._bn_targets
        loss = sum(torch.linalg.vector_norm(mu - m.running_mean) + torch.linalg.vector_norm(var - m.running_var)
                   for mu, var, m in records)
        records.clear()
        return loss

    # ----- misc -----------------------------------------------------------------------------------------------
    def _descend(self, loss: torch.Tensor, module: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """zero grads, backward, optional gradient-norm clip, one optimizer step."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(module.parameters(), self.cfg.grad_clip)
        optimizer.step()

    def checkpoint_objects(self) -> dict:
        """Everything `runtime.train.run_loop` must save to resume exactly."""
        objects = {"student": self.student, "generator": self.generator, "ema_generator": self.ema_generator,
                   "student_optimizer": self.student_optimizer, "generator_optimizer": self.generator_optimizer,
                   "z_rng": self.z_rng, "z_ema_rng": self.z_ema_rng, "iterations": IterationCount(self)}
        objects.update({f"scheduler{i}": s for i, s in enumerate(self.schedulers)})
        return objects
