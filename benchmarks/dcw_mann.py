"""The batched DNC memory step (`dcw_mann.memory.step`) against a straightforward per-sample implementation of the
same equations (one sample at a time, loops over slots and heads), on the quick (N 16, W 32) and the paper
(N 64, W 64) memory sizes, batch 32, R 1. Equality: both give the same new state (float64, |diff| < 1e-10).
Speed: per-sample time / batched time for one write + read step, forward only.

Seeds as a batch dimension (`dcw_mann.stacked.train_seeds`) against one `train` per seed, 3 seeds, the quick run's
data and settings, in one process on one thread: seconds of each and the speed-up; equality: the same weights after
the same iterations (float32 tolerance). The same for decoding (`stacked.stacked_predict` against one `predict` per
seed, on the first 3,300 test pairs, with the weights those iterations gave; equality: the same predictions), and
the official batches of 10 joined by their padded length (`training.official_blocks`) against one `predict` per
block (equality: the same predictions). And the cost of one training iteration of each model (one seed, `train`),
in ms and relative to the LSTM seq2seq's: the ratios the quick config's equal-seconds budgets use (eager memory
steps). And the stacked training of the memory models with the eager against the compiled memory step
(`memory.compiled_step`, the quick run's setting), in alternating rounds; equality: the same weights (float32
tolerance).
"""

import dataclasses
import time

import torch

from benchmarks import paired_medians, timed
from reprolab.methods.dcw_mann import memory as mem
from reprolab.methods.dcw_mann.experiment import CONFIGS, log_data
from reprolab.methods.dcw_mann.predictor import build_model, train_config_for
from reprolab.methods.dcw_mann.stacked import stacked_models, stacked_predict, train_seeds
from reprolab.methods.dcw_mann.training import OFFICIAL_EVAL_BATCH, predict, train
from reprolab.runtime.progress import set_progress


def _cosine_softmax(memory, key, strength):
    norms = [row / max(float(row.norm()), 1e-6) for row in memory]
    key = key / max(float(key.norm()), 1e-6)
    scores = torch.stack([strength * (row @ key) for row in norms])
    return torch.softmax(scores, dim=0)


def per_sample_step(state: mem.MemoryState, iface: mem.Interface, write_protected: bool = False) -> mem.MemoryState:
    """The DNC step for each sample on its own, slot by slot (the equations of `memory`'s docstring)."""
    out = {name: [] for name in mem.MemoryState._fields}
    for b in range(state.memory.shape[0]):
        m, u, p, link = state.memory[b], state.usage[b], state.precedence[b], state.link[b]
        ww, wr = state.write_weighting[b], state.read_weightings[b]
        n = m.shape[0]
        if not write_protected:
            psi = torch.ones(n, dtype=m.dtype)
            for i in range(wr.shape[0]):
                psi = psi * (1 - iface.free_gates[b, i] * wr[i])
            u = (u + ww - u * ww) * psi
            order = sorted(range(n), key=lambda j: (float(u[j]), j))
            alloc, product = torch.zeros(n, dtype=m.dtype), torch.tensor(1.0, dtype=m.dtype)
            for j in order:
                alloc[j] = (1 - u[j]) * product
                product = product * u[j]
            content = _cosine_softmax(m, iface.write_key[b], iface.write_strength[b])
            g_a, g_w = iface.allocation_gate[b], iface.write_gate[b]
            ww = g_w * (g_a * alloc + (1 - g_a) * content)
            m = torch.stack([m[i] * (1 - ww[i] * iface.erase[b]) + ww[i] * iface.write_vector[b] for i in range(n)])
            new_link = torch.zeros_like(link)
            for i in range(n):
                for j in range(n):
                    if i != j:
                        new_link[i, j] = (1 - ww[i] - ww[j]) * link[i, j] + ww[i] * p[j]
            link = new_link
            p = (1 - ww.sum()) * p + ww
        weights, vectors = [], []
        for i in range(wr.shape[0]):
            forward, backward = link @ wr[i], link.T @ wr[i]
            content = _cosine_softmax(m, iface.read_keys[b, i], iface.read_strengths[b, i])
            pi = iface.read_modes[b, i]
            w = pi[0] * backward + pi[1] * content + pi[2] * forward
            weights.append(w)
            vectors.append(sum(w[k] * m[k] for k in range(n)))
        values = (m, u, p, link, ww, torch.stack(weights), torch.stack(vectors))
        for name, value in zip(mem.MemoryState._fields, values):
            out[name].append(value)
    return mem.MemoryState(*(torch.stack(out[name]) for name in mem.MemoryState._fields))


def random_case(batch: int, slots: int, width: int, heads: int, seed: int, dtype=torch.float64, steps: int = 3):
    """A memory state after `steps` random writes and reads, and a fresh random interface."""
    gen = torch.Generator().manual_seed(seed)
    state = mem.initial_state(batch, slots, width, heads)
    state = mem.MemoryState(*(t.to(dtype) for t in state))
    size = mem.interface_size(width, heads)
    for _ in range(steps):
        state = mem.step(state, mem.parse_interface(torch.randn(batch, size, generator=gen, dtype=dtype), width, heads))
    return state, mem.parse_interface(torch.randn(batch, size, generator=gen, dtype=dtype), width, heads)



def main() -> None:
    torch.set_num_threads(1)
    set_progress(False)
    for log in ("helpdesk", "bpi_12_w"):
        iteration_costs(log)
    for log, variant in (("helpdesk", "dcw_mann"), ("helpdesk", "dnc"), ("bpi_12_w", "dcw_mann"),
                         ("helpdesk", "lstm_seq2seq"), ("bpi_12_w", "lstm_seq2seq")):
        stacked_against_separate(log, variant)
    for log, variant in (("helpdesk", "dnc"), ("helpdesk", "dcw_mann"), ("bpi_12_w", "dcw_mann")):
        compiled_against_eager(log, variant)
    for name, slots, width in (("quick: N 16, W 32", 16, 32), ("paper: N 64, W 64", 64, 64)):
        state, iface = random_case(32, slots, width, 1, seed=0)
        fast, slow = mem.step(state, iface), per_sample_step(state, iface)
        diff = max(float((a - b).abs().max()) for a, b in zip(fast, slow))
        assert diff < 1e-10, diff
        state32 = mem.MemoryState(*(t.float() for t in state))
        iface32 = mem.Interface(*(t.float() for t in iface))
        with torch.no_grad():
            t_fast = timed(lambda: mem.step(state32, iface32), 50)
            t_slow = timed(lambda: per_sample_step(state32, iface32), 1)
        print(f"{name}, batch 32: batched {t_fast * 1e3:.2f} ms, per-sample {t_slow * 1e3:.0f} ms per write + read "
              f"step, speed-up {t_slow / t_fast:.0f}x; states equal (max |diff| {diff:.1e}, float64)")


STACK_ITERATIONS = 60
COMPILE_ITERATIONS = 40
DECODE_PAIRS = 3300                   # the quick run's official scoring: the first 3,300 test pairs
COST_ITERATIONS = 60
WARM_UP = 5
COST_MODELS = ("lstm_shared", "lstm_seq2seq", "dnc", "dc_mann", "dcw_mann")


def quick_data(log: str):
    """The quick run's data of `log` and its training settings (evaluation only after the last iteration)."""
    cfg = CONFIGS["quick"]
    data = log_data(log, cfg)
    return data, dataclasses.replace(cfg.train, max_decode=data.max_decode, eval_every=10**6)


def quick_model(name: str, data, seed: int, compiled: bool = False):
    """Seed `seed`'s model `name` at the quick sizes; a memory model's step eager unless `compiled` (the quick run
    compiles it; the iteration costs of the equal-seconds budget are eager costs)."""
    cfg = CONFIGS["quick"]
    torch.manual_seed(seed)
    model_cfg = cfg.seq2seq if name == "lstm_seq2seq" else dataclasses.replace(cfg.model, compile_memory=compiled)
    return build_model(name, data.log.num_activities + 2, model_cfg, data.attention_steps), model_cfg


def stacked_against_separate(log: str, variant: str, seeds=(0, 1, 2)) -> None:
    """3 seeds of `variant` for STACK_ITERATIONS iterations on `log`'s quick data: one `train` per seed, then
    `train_seeds`; the same weights to float tolerance, the seconds of each. Then the decoding of those models."""
    data, train_cfg = quick_data(log)
    train_cfg = train_config_for(variant, train_cfg, quick_model(variant, data, 0)[1])
    warm = dataclasses.replace(train_cfg, iterations=WARM_UP)
    train_seeds([quick_model(variant, data, s)[0] for s in seeds], data.train, data.selection.subset(range(10)),
                None, warm, seeds)                                           # first allocations of both paths
    train(quick_model(variant, data, 0)[0], data.train, data.selection.subset(range(10)), None, warm, 0)
    train_cfg = dataclasses.replace(train_cfg, iterations=STACK_ITERATIONS)
    separate = [quick_model(variant, data, s)[0] for s in seeds]
    stacked = [quick_model(variant, data, s)[0] for s in seeds]
    start = time.perf_counter()
    for model, seed in zip(separate, seeds):
        train(model, data.train, data.selection.subset(range(10)), None, train_cfg, seed)
    t_separate = time.perf_counter() - start
    start = time.perf_counter()
    train_seeds(stacked, data.train, data.selection.subset(range(10)), None, train_cfg, seeds)
    t_stacked = time.perf_counter() - start
    diff = max(float((a - b).abs().max()) for ma, mb in zip(separate, stacked)
               for a, b in zip(ma.state_dict().values(), mb.state_dict().values()))
    assert diff < 1e-3, diff
    print(f"{log} {variant}, {len(seeds)} seeds x {STACK_ITERATIONS} iterations: separate {t_separate:.2f} s, "
          f"stacked {t_stacked:.2f} s, speed-up {t_separate / t_stacked:.2f}x; weights equal to "
          f"max |diff| {diff:.1e} (float32)")
    decoding(log, variant, stacked, data, train_cfg)


def compiled_against_eager(log: str, variant: str, seeds=(0, 1, 2), rounds: int = 4) -> None:
    """3 stacked seeds of `variant` for COMPILE_ITERATIONS iterations on `log`'s quick data, the memory step eager
    against compiled (`memory.compiled_step`, as the quick run trains), in alternating rounds after one warm-up run
    of each (the compilation); the same weights to float tolerance."""
    data, train_cfg = quick_data(log)
    train_cfg = train_config_for(variant, train_cfg, quick_model(variant, data, 0)[1])
    selection = data.selection.subset(range(10))

    def run(compiled: bool, iterations: int) -> tuple[float, list]:
        models = [quick_model(variant, data, s, compiled)[0] for s in seeds]
        start = time.perf_counter()
        train_seeds(models, data.train, selection, None, dataclasses.replace(train_cfg, iterations=iterations),
                    seeds)
        return time.perf_counter() - start, models

    for compiled in (False, True):
        run(compiled, WARM_UP)
    timings = []
    for _ in range(rounds):
        (t_eager, eager), (t_compiled, fused) = run(False, COMPILE_ITERATIONS), run(True, COMPILE_ITERATIONS)
        timings.append((t_eager, t_compiled))
    diff = max(float((a - b).abs().max()) for ma, mb in zip(eager, fused)
               for a, b in zip(ma.state_dict().values(), mb.state_dict().values()))
    assert diff < 1e-3, diff
    t_eager, t_compiled, ratio = paired_medians(timings)
    print(f"{log} {variant}, {len(seeds)} stacked seeds x {COMPILE_ITERATIONS} iterations, medians of {rounds} "
          f"rounds: eager memory step {t_eager:.2f} s, compiled {t_compiled:.2f} s, speed-up {ratio:.2f}x; weights "
          f"equal to max |diff| {diff:.1e} (float32)")


def decoding(log: str, variant: str, models, data, train_cfg) -> None:
    """The first DECODE_PAIRS test pairs decoded by each model: one `predict` per model against one
    `stacked_predict`, and the official batches of 10, one `predict` per block against the joined blocks."""
    prefixes = data.test.prefixes[:DECODE_PAIRS]
    args = (data.max_decode, train_cfg.eval_batch)
    start = time.perf_counter()
    separate = [predict(model, prefixes, *args) for model in models]
    t_separate = time.perf_counter() - start
    start = time.perf_counter()
    together = stacked_predict(stacked_models(models), prefixes, *args)
    t_stacked = time.perf_counter() - start
    assert together == separate
    start = time.perf_counter()
    blocks = [p for i in range(0, len(prefixes), OFFICIAL_EVAL_BATCH)
              for p in predict(models[0], prefixes[i:i + OFFICIAL_EVAL_BATCH], *args, official=True)]
    t_blocks = time.perf_counter() - start
    start = time.perf_counter()
    joined = predict(models[0], prefixes, *args, official=True)
    t_joined = time.perf_counter() - start
    assert joined == blocks
    print(f"{log} {variant}, decoding {len(prefixes)} test prefixes: {len(models)} seeds separate {t_separate:.2f} s, "
          f"stacked {t_stacked:.2f} s, speed-up {t_separate / t_stacked:.2f}x, predictions equal; official batches "
          f"of 10 one at a time {t_blocks:.2f} s, joined by padded length {t_joined:.2f} s, speed-up "
          f"{t_blocks / t_joined:.2f}x, predictions equal")


def iteration_costs(log: str) -> None:
    """Milliseconds per training iteration of one seed of each model (`train`, no evaluation) on `log`'s quick
    data, and each cost relative to the LSTM seq2seq's: the ratios `DcwMannConfig.iteration_cost_ms` holds."""
    data, train_cfg = quick_data(log)
    train_cfg = dataclasses.replace(train_cfg, iterations=COST_ITERATIONS)
    costs = {}
    for name in COST_MODELS:
        model, model_cfg = quick_model(name, data, 0)
        cfg = train_config_for(name, train_cfg, model_cfg)
        train(quick_model(name, data, 1)[0], data.train, data.selection.subset(range(10)), None,
              dataclasses.replace(cfg, iterations=WARM_UP), 1)               # imports and first allocations
        start = time.perf_counter()
        train(model, data.train, data.selection.subset(range(10)), None, cfg, 0)
        costs[name] = (time.perf_counter() - start) / COST_ITERATIONS * 1e3
    print(f"{log}: ms per iteration " + ", ".join(f"{k} {v:.1f} ({v / costs['lstm_seq2seq']:.2f})"
                                                   for k, v in costs.items()))
