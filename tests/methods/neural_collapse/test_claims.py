"""The neural_collapse claims on hand-made records in the experiment's format: the synthetic ones hold or fail by
the spec §7 tolerances, the real-data ones hold, fail, stay inconclusive or have no signal on per-seed values."""

import pytest

from reprolab.methods.neural_collapse.claims import ETF_KEYS, GOF_KEYS, OF_KEYS, real_claims, synthetic_claims

BALANCED, IMBALANCED = (150,) * 10, (300, 300, 150, 150, 100, 100, 60, 60, 30, 30)   # majority rates 0.1, 0.203


def ufm(kind, loss="mse", counts=(100,) * 4, loss_gd=0.02, loss_theory=0.02, s_gd=(1.5,) * 4, s_theory=(1.5,) * 4,
        bias=None, lam=5e-4, depth=1, **metrics):
    per_depth = [{k: metrics.get(k, 1e-12) for k in OF_KEYS + ETF_KEYS + GOF_KEYS}]
    return {"case": {"kind": kind, "loss": loss, "counts": list(counts), "lam": lam, "depth": depth},
            "loss_gd": loss_gd, "loss_theory": loss_theory, "singular_values_gd": [list(s_gd)],
            "layer_s_theory": [sorted(s_theory, reverse=True)], "s_theory": list(s_theory), "bias": bias,
            "per_depth": per_depth, "metrics": per_depth[0], "rank_of_product": 2}


def synthetic(**changed):
    records = {"balanced_M1": ufm("balanced"), "imbalanced_M1": ufm("imbalanced", of_nc2_w=0.3),
               "bias_M3": ufm("bias", bias=[0.25] * 4, depth=3),
               "minority_M1": ufm("minority", counts=(1000, 1000, 10, 10), s_gd=(3.3798, 3.3798, 0.0, 0.0),
                                  s_theory=(3.3798, 3.3798, 0.0, 0.0)),
               "ce_M1_lam0.0005": ufm("ce_small", loss="ce", loss_gd=0.0943617, loss_theory=0.0943617),
               "ce_M6_lam0.005": ufm("ce_deep", loss="ce", loss_gd=0.1397, loss_theory=0.1765, lam=5e-3, depth=6)}
    return {**records, **changed}


def verdicts(records):
    return {c.name: c.verdict for c in synthetic_claims(records)}


def test_the_synthetic_claims_hold_on_the_closed_form_and_are_reproductions():
    claims = synthetic_claims(synthetic())
    assert all(c.kind == "reproduction" and c.verdict == "holds" for c in claims)
    assert "lambda = 0.005, M = 6" in next(c for c in claims if c.name == "ce_etf_not_global_deep").statement


@pytest.mark.parametrize("name, changed", [
    ("gd_matches_closed_form", {"balanced_M1": ufm("balanced", loss_gd=0.020001)}),          # gap 5e-5
    ("layer_singular_values_match", {"balanced_M1": ufm("balanced", s_gd=(1.5, 1.5, 1.5, 1.502))}),
    ("balanced_frame", {"balanced_M1": ufm("balanced", of_nc2_h=2e-4)}),
    ("balanced_frame", {"bias_M3": ufm("bias", bias=[0.25, 0.25, 0.25, 0.25 + 2e-6], depth=3)}),
    ("imbalanced_gof_not_of", {"imbalanced_M1": ufm("imbalanced", of_nc2_w=0.15)}),           # close to an OF
    ("imbalanced_gof_not_of", {"imbalanced_M1": ufm("imbalanced", of_nc2_w=0.3, gof_nc3_w=2e-4)}),
    ("minority_collapse_matches_theory layer_singular_values_match",           # GD leaves a minority class alive
     {"minority_M1": ufm("minority", s_gd=(3.3798, 3.3798, 0.01, 0.0), s_theory=(3.3798, 3.3798, 0.0, 0.0))}),
    ("minority_collapse_matches_theory", {"minority_M1": ufm("minority", s_gd=(3.3, 3.3, 0.2, 0.2),
                                                             s_theory=(3.3, 3.3, 0.2, 0.2))}),   # nothing collapses
    ("ce_etf_small_lambda", {"ce_M1_lam0.0005": ufm("ce_small", loss="ce", loss_gd=0.09437, loss_theory=0.0943617)}),
    ("ce_etf_small_lambda", {"ce_M1_lam0.0005": ufm("ce_small", loss="ce", etf_nc3=3e-4)}),
    ("ce_etf_not_global_deep", {"ce_M6_lam0.005": ufm("ce_deep", loss="ce", loss_gd=0.1765 * (1 - 1e-7),
                                                      loss_theory=0.1765)}),                 # GD reached the ETF
])
def test_each_synthetic_claim_fails_outside_its_tolerance(name, changed):
    result = verdicts(synthetic(**changed))
    assert {k for k, v in result.items() if v == "fails"} == set(name.split())
    assert all(v in ("holds", "fails") for v in result.values())


def real_record(name, seed, nc1_first, nc1_end, counts=BALANCED, train_acc=1.0, gof=0.01, of=0.4):
    final = {"nc1": nc1_end, "train_acc": train_acc, "gof_nc2_w": gof, "of_nc2_w": of, "gof_nc3_wh": gof / 10,
             "of_nc3_wh": of / 10}
    return {"name": name, "seed": seed, "counts": list(counts), "final": final,
            "history": [{"epoch": 0.0, "nc1": 50.0}, {"epoch": 1.0, "nc1": nc1_first}, {"epoch": 2.0, **final}]}


def real(name, first, end, counts=BALANCED, train_acc=1.0, gof=(0.01,) * 3, of=(0.4,) * 3):
    """One run over len(first) seeds, stored in reverse seed order (the claims sort them)."""
    records = [real_record(name, s, f, e, counts, train_acc, g, o) for s, (f, e, g, o) in
               enumerate(zip(first, end, gof, of))]
    return {f"{name}_seed{r['seed']}": r for r in reversed(records)}


@pytest.mark.parametrize("first, end, train_acc, verdict", [
    ([3.8, 3.7, 3.9], [1e-4, 2e-4, 1e-4], 1.0, "holds"),
    ([1.0, 1.1, 1.0], [2.0, 2.2, 2.1], 1.0, "fails"),
    ([1.0, 1.0, 1.0], [0.5, 1.6, 0.8], 1.0, "inconclusive"),
    ([3.8], [1e-4], 1.0, "inconclusive"),                                         # one seed never decides
    ([3.8, 3.7, 3.9], [1e-4, 2e-4, 1e-4], 0.09, "no_signal"),                     # below the majority rate
])
def test_nc1_falls_is_paired_per_seed(first, end, train_acc, verdict):
    (claim,) = real_claims(real("mnist_balanced_M1", first, end, train_acc=train_acc))
    assert (claim.name, claim.kind, claim.verdict) == ("real_nc1_falls", "reproduction", verdict)
    assert claim.observed["NC1 at epoch 1"] == first and claim.observed["NC1 at the end"] == end   # seed order


@pytest.mark.parametrize("gof, of, train_acc, verdict", [
    ([0.03, 0.02, 0.03], [0.39, 0.40, 0.38], 1.0, "holds"),
    ([0.39, 0.40, 0.38], [0.03, 0.02, 0.03], 1.0, "fails"),
    ([0.03, 0.50, 0.10], [0.39, 0.10, 0.38], 1.0, "inconclusive"),
    ([0.03, 0.02, 0.03], [0.39, 0.40, 0.38], 0.19, "no_signal"),     # beats chance 0.1, not the majority rate
])
def test_gof_below_of_is_paired_per_seed_on_the_imbalanced_runs(gof, of, train_acc, verdict):
    records = {**real("mnist_balanced_M1", [3.8] * 3, [1e-4] * 3),
               **real("mnist_imbalanced_M1", [3.8] * 3, [1e-4] * 3, IMBALANCED, train_acc, gof, of)}
    claims = real_claims(records)
    assert [c.name for c in claims] == ["real_nc1_falls"] * 2 + ["real_imbalanced_gof_below_of"]
    assert (claims[-1].kind, claims[-1].verdict) == ("reproduction", verdict)
    assert claims[-1].observed["GOF NC2_W"] == gof
