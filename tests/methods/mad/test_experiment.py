import copy
import dataclasses

import pytest
import torch

from reprolab.launch import run_method
from tests.conftest import read_record, tiny_quick_run
from reprolab.methods.mad.experiment import CONFIGS, channels_last_generator, longest_first, make_distiller
from reprolab.methods.mad.teachers import build_network, load_or_train_teacher, load_split, teacher_path

TINY = ("cases=digits", "seeds=2", "digits.iterations=40", "digits.eval_every=10", "digits.forgetting_lag=10",
        "workers=2")


def test_digits_teacher_is_trained_cached_and_retrained_when_damaged(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path))
    model, record = load_or_train_teacher("digits_cnn16")
    assert not record["cached"] and record["test_accuracy"] >= 0.98        # spec 7 check 7
    again, record2 = load_or_train_teacher("digits_cnn16")
    assert record2["cached"] and record2["test_accuracy"] == record["test_accuracy"]
    assert all(torch.equal(p, q) for p, q in zip(model.state_dict().values(), again.state_dict().values()))
    teacher_path("digits_cnn16", 0).write_bytes(b"not a checkpoint")
    _, record3 = load_or_train_teacher("digits_cnn16")
    assert not record3["cached"]
    with pytest.raises(ValueError, match="unknown teacher"):
        load_or_train_teacher("imagenet_vit")


def test_splits_are_the_documented_preprocessing():
    x, y = load_split("digits", "train")
    assert x.shape == (1297, 1, 8, 8) and x.min() >= -1.0 and x.max() <= 1.0
    assert len(load_split("digits", "test")[1]) == 500
    with pytest.raises(ValueError, match="unknown dataset"):
        load_split("svhn", "train")
    with pytest.raises(ValueError, match="unknown architecture"):
        build_network("vgg")


def test_base_method_is_lambda_one_zero():
    teacher = build_network("cnn16")
    base = make_distiller(CONFIGS["quick"].digits, "base", teacher, 0, "cpu")
    mad = make_distiller(CONFIGS["quick"].digits, "mad", teacher, 0, "cpu")
    assert (base.cfg.lambda0, base.cfg.lambda1) == (1.0, 0.0)
    assert (mad.cfg.lambda0, mad.cfg.lambda1, mad.cfg.split_batch) == (0.5, 0.5, True)
    assert mad._batch_sizes() == (32, 32) and base._batch_sizes() == (64, 0)     # equal samples per student step
    with pytest.raises(ValueError, match="unknown method"):
        make_distiller(CONFIGS["quick"].digits, "dfkd_mem", teacher, 0, "cpu")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return tiny_quick_run(tmp_path_factory, "mad", TINY)


def test_smoke_run_writes_a_complete_record(tiny_run):
    out, result = tiny_run
    record = read_record(out)
    assert [c["name"] for c in record["claims"]] == ["teachers_reach_reference_accuracy", "ema_generator_drifts_less",
                                                     "mad_forgets_less", "mad_accuracy_ge_base", "mad_cost_within_2_5x"]
    block = record["metrics"]["cases"]["digits"]
    assert block["mad"]["curve_steps"] == [10, 20, 30, 40] and len(block["base"]["last_k_accuracy"]["per_seed"]) == 2
    for arm in block.values():          # last-k over the seeds' mean curve = mean over the seeds of their last k
        k = CONFIGS["quick"].digits.last_k
        last = arm["curve_mean"][-k:]            # k = 5 evaluations and more, here all 4
        assert arm["last_k_accuracy"]["mean"] == pytest.approx(sum(last) / len(last))
    mad = block["mad"]
    assert mad["js_ratio"]["per_seed"] == pytest.approx([g / e for g, e in zip(mad["js_step_G"]["per_seed"],
                                                                               mad["js_step_G_ema"]["per_seed"])])
    assert "js_step_G" not in block["base"] and "js_step_G_ema" not in block["base"]    # no drift probe in a base run
    assert "samples_digits.png" in record["artifacts"]
    for artifact in record["artifacts"]:
        assert (out / artifact).stat().st_size > 1000


def test_claims_are_paired_over_the_run_seeds(tiny_run):
    _, result = tiny_run
    by_kind = {c.name: c.kind for c in result.claims}
    assert by_kind["teachers_reach_reference_accuracy"] == by_kind["mad_cost_within_2_5x"] == "check"
    block = result.metrics["cases"]["digits"]
    paired = {"ema_generator_drifts_less": (block["mad"]["js_step_G_ema"], block["mad"]["js_step_G"]),
              "mad_forgets_less": (block["mad"]["forgetting_drop"], block["base"]["forgetting_drop"]),
              "mad_accuracy_ge_base": (block["mad"]["last_k_accuracy"], block["base"]["last_k_accuracy"])}
    for c in result.claims:
        if c.kind == "reproduction":        # each claim decides on the per-seed values of the metrics, in seed order
            assert c.observed["n_seeds"] == 2
            assert list(c.observed.values())[:2] == [paired[c.name][0]["per_seed"], paired[c.name][1]["per_seed"]]


def test_the_costliest_case_runs_first():
    assert longest_first(CONFIGS["quick"]) == ["mnist", "digits"]
    assert longest_first(CONFIGS["paper"]) == ["cifar10", "mnist", "digits"]


def test_same_seed_gives_mad_and_its_base_the_same_initialisation():
    teacher = build_network("cnn16")
    base, mad, other = (make_distiller(CONFIGS["quick"].digits, method, teacher, seed, "cpu")
                        for method, seed in (("base", 3), ("mad", 3), ("mad", 4)))
    for net in ("student", "generator"):
        weights = [getattr(d, net).state_dict() for d in (base, mad, other)]
        assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
        assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])


@pytest.mark.slow
def test_quick_reproduction_runs_end_to_end(tmp_path):
    result = run_method("mad", "quick", out=tmp_path, device="cpu", progress=False)
    drift = [c for c in result.claims if c.name == "ema_generator_drifts_less"]
    assert next(c for c in result.claims if c.name == "teachers_reach_reference_accuracy").holds
    assert len(drift) == 2 and all(c.holds for c in drift)
    for case in ("digits", "mnist"):
        assert result.metrics["cases"][case]["mad"]["last_k_accuracy"]["mean"] > 0.5


def test_an_interrupted_run_resumes_to_the_same_numbers(tmp_path):
    import dataclasses

    from reprolab.methods.mad.experiment import run_distillation

    base = CONFIGS["quick"]
    case = dataclasses.replace(base.digits, iterations=20, eval_every=5, forgetting_lag=5)
    full_cfg = dataclasses.replace(base, digits=case, checkpoint_every=5)
    whole = run_distillation(0, "digits", "mad", full_cfg, checkpoint=tmp_path / "a.pt")
    first_half = dataclasses.replace(full_cfg, digits=dataclasses.replace(case, iterations=10))
    run_distillation(0, "digits", "mad", first_half, checkpoint=tmp_path / "b.pt")
    resumed = run_distillation(0, "digits", "mad", full_cfg, checkpoint=tmp_path / "b.pt", resume=True)
    assert resumed["history"] == whole["history"] and resumed["drift"] == whole["drift"]
    assert resumed["forgetting"] == whole["forgetting"]


def test_cifar10_paper_generator_is_class_conditional_with_bilinear_upsampling():
    from reprolab.nets import GeneratorA

    case = CONFIGS["paper"].cifar10
    assert (case.conditional, case.upsample) == ("sum", "bilinear")
    teacher = build_network("cnn16")
    small = dataclasses.replace(case, teacher="digits_cnn16", student="cnn6", img_size=8, channels=1, ngf=4, nz=8,
                                distill=dataclasses.replace(case.distill, beta_at=0.0, batch_size=4, student_steps=1))
    distiller = make_distiller(small, "mad", teacher, 0, "cpu")
    assert isinstance(distiller.generator, GeneratorA) and distiller.generator.conditional == "sum"
    assert distiller.conditional and distiller.generator.embedding.weight.shape == (10, 8)
    distiller.iteration()                                                       # labels are drawn and used


@pytest.mark.parametrize("upsample,conditional", [("nearest", "uncond"), ("bilinear", "sum")])
def test_the_channels_last_generator_gives_the_same_numbers_bit_for_bit(upsample, conditional):
    """Forward values, BN running statistics and parameter gradients equal the channels-last module without the
    conversion after the first BatchNorm (the layout `make_distiller` used before it), and the EMA copy keeps it."""
    from reprolab.nets import GeneratorA

    torch.manual_seed(0)
    plain = GeneratorA(16, 8, 32, 1, upsample, conditional, 10 if conditional != "uncond" else 0)
    plain = plain.to(memory_format=torch.channels_last)
    fast = channels_last_generator(copy.deepcopy(plain))
    z, y = torch.randn(24, 16), torch.randint(10, (24,))
    outputs = [g(z, y if conditional != "uncond" else None) for g in (plain, fast)]
    for g, out in zip((plain, fast), outputs):
        out.square().sum().backward()
    assert torch.equal(*outputs)
    assert all(torch.equal(p.grad, q.grad) for p, q in zip(plain.parameters(), fast.parameters()))
    assert all(torch.equal(p, q) for p, q in zip(plain.buffers(), fast.buffers()))
    h = torch.randn(4, 16, 8, 8)
    assert plain.blocks[0](h).is_contiguous() and not copy.deepcopy(fast).blocks[0](h).is_contiguous()
    assert copy.deepcopy(fast).blocks[0](h).is_contiguous(memory_format=torch.channels_last)


def test_contiguous_generator_is_dfads_plain_generator():
    """`contiguous_generator`: the distiller's generator is DFAD's plain contiguous GeneratorA (no layout change, no
    conversion hook), bit for bit the one built from the same seed; by default it runs channels-last on CPU."""
    from reprolab.nets import GeneratorA

    teacher, case = build_network("cnn16"), CONFIGS["quick"].digits
    flagged = make_distiller(dataclasses.replace(case, contiguous_generator=True), "base", teacher, 0, "cpu").generator
    default = make_distiller(case, "base", teacher, 0, "cpu").generator
    torch.manual_seed(0)
    build_network(case.student)                                  # make_distiller builds the student first
    plain = GeneratorA(case.nz, case.ngf, case.img_size, case.channels, case.upsample, case.conditional, 0)
    assert all(p.is_contiguous() for p in flagged.parameters()) and not flagged.blocks[0]._forward_hooks
    assert not all(p.is_contiguous() for p in default.parameters()) and default.blocks[0]._forward_hooks
    z = torch.randn(16, case.nz)
    assert torch.equal(flagged(z), plain(z))
    assert all(torch.equal(p, q) for p, q in zip(flagged.state_dict().values(), plain.state_dict().values()))


def test_best_selection_reports_the_best_evaluation_as_dfad_keeps_its_best_checkpoint():
    """DFAD_mnist.py keeps the student of its best test accuracy (`best_acc`); `selection="best"` reports that
    accuracy as `best_accuracy` where the default reports `last_k_accuracy`, the mean of the last k evaluations; one
    rule (`CaseConfig.accuracy_selection`) gives the run record's key and value and the claim's words."""
    import numpy as np

    from reprolab.methods.mad.experiment import run_distillation
    from reprolab.runtime.config import ConfigError

    acc = np.asarray([0.2, 0.9, 0.5, 0.6, 0.7, 0.4, 0.3])
    default = CONFIGS["quick"].digits
    best = dataclasses.replace(default, selection="best")
    last_k, top = default.accuracy_selection, best.accuracy_selection
    assert last_k.select(acc) == float(np.mean([0.5, 0.6, 0.7, 0.4, 0.3])) and top.select(acc) == 0.9
    assert dataclasses.replace(default, last_k=2).accuracy_selection.select(acc) == float(np.mean([0.4, 0.3]))
    assert (last_k.metric, top.metric) == ("last_k_accuracy", "best_accuracy")
    assert (last_k.description, top.description) == ("mean of the last 5 evaluations",
                                                      "the best of its evaluations, as DFAD keeps its best checkpoint")
    cfg = dataclasses.replace(CONFIGS["quick"], digits=dataclasses.replace(best, iterations=12, eval_every=3,
                                                                           forgetting_lag=3))
    record = run_distillation(0, "digits", "base", cfg)
    seen = [h["accuracy"] for h in record["history"]]
    assert "last_k_accuracy" not in record and record["best_accuracy"] == max(seen) and len(set(seen)) > 1
    with pytest.raises(ConfigError, match="selection"):
        dataclasses.replace(default, selection="final")
