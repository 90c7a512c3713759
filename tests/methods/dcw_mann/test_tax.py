"""Tax et al.'s LSTM: every prefix padded to a fixed length, so a prediction does not depend on its batch; the
official time divisors and tie rule behind their flags."""

import numpy as np
import pytest
import torch

from reprolab.methods.dcw_mann.baselines import TaxConfig, TaxLSTM, next_class
from reprolab.methods.dcw_mann.log import EventLog, load_log, make_pairs, split_cases


def test_a_tax_lstm_prediction_does_not_depend_on_the_other_prefixes_in_its_batch():
    log = load_log("helpdesk")
    split = split_cases(log)
    train = list(split.train)[:300]
    val = make_pairs(log, list(split.val)[:20])
    model = TaxLSTM(TaxConfig(hidden=8, iterations=20, batch_size=16, eval_every=10, max_suffix=6)).fit(
        log, train, val, seed=0)
    test = make_pairs(log, list(split.test)[:40])
    together = model.predict_pairs(test)
    alone = model.predict_pairs(test, chunk=1)
    shuffled = np.random.default_rng(0).permutation(len(test)).tolist()
    reordered = model.predict_pairs(test.subset(shuffled), chunk=7)
    assert together == alone
    assert [together[i] for i in shuffled] == reordered
    assert any(together)                                  # it predicts events, not only the end of the case


def tiny_log() -> EventLog:
    """Cases 0 and 1 train, case 2 is a test case, case 3 has one event."""
    times = ([0.0, 10.0, 30.0], [100.0, 160.0], [0.0, 1000.0], [50.0])
    return EventLog("tiny", ((1, 2, 3), (1, 3), (2, 3), (1,)), tuple(np.asarray(t) for t in times),
                    ("a", "b", "c"), ("A", "B", "C", "D"))


def test_official_divisors_are_the_mean_gaps_over_every_event_of_the_whole_log():
    log = tiny_log()
    val = make_pairs(log, [0])
    fit = {flag: TaxLSTM(TaxConfig(hidden=4, iterations=1, batch_size=2, eval_every=1, max_suffix=2,
                                   official_divisors=flag)).fit(log, [0, 1], val, seed=0)
           for flag in (False, True)}
    # default: the training cases' events after the first: gaps 10, 20, 60; since the start 10, 30, 60
    assert fit[False].divisors == pytest.approx((30.0, 100.0 / 3))
    # Tax et al.: all 8 events of the log, first events as 0: gaps 0+10+20, 0+60, 0+1000, 0; starts 0+10+30, 0+60, ...
    assert fit[True].divisors == pytest.approx((1090.0 / 8, 1100.0 / 8))


def get_symbol(probs: list[float]) -> int:
    """Tax et al.'s `getSymbol` over their class order [end, activity 0, ...], mapped back to ours (end last)."""
    ordered = [probs[-1]] + probs[:-1]
    best, symbol = 0.0, 0
    for i, p in enumerate(ordered):
        if p >= best:
            best, symbol = p, i
    return len(probs) - 1 if symbol == 0 else symbol - 1


def test_official_ties_go_to_the_last_class_of_tax_et_al_order():
    logits = torch.tensor([[1.0, 3.0, 3.0, 0.0, 3.0],     # activities 1, 2 and the end tie: activity 2
                           [4.0, 4.0, 1.0, 0.0, 0.0],     # activities 0 and 1 tie
                           [5.0, 0.0, 0.0, 0.0, 5.0],     # activity 0 and the end tie: activity 0
                           [0.0, 1.0, 0.0, 0.0, 6.0],     # no tie: the end
                           [0.0, 0.0, 2.0, 0.0, 0.0]])    # no tie
    official = next_class(logits, official_ties=True).tolist()
    assert official == [get_symbol(row) for row in torch.softmax(logits, -1).tolist()] == [2, 1, 0, 4, 2]
    assert next_class(logits).tolist() == [1, 0, 0, 4, 2]


class TiedLogits(torch.nn.Module):
    """Logits with activities 1 and 2 (ids 2 and 3) tied above the rest, whatever the input."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tensor([[0.0, 2.0, 2.0, 1.0]]).expand(len(x), -1), torch.zeros(len(x))


def test_tax_lstm_suffixes_follow_the_tie_rule():
    log = tiny_log()
    pairs = make_pairs(log, [0, 1])
    suffixes = {}
    for flag in (False, True):
        model = TaxLSTM(TaxConfig(max_suffix=3, official_ties=flag))
        model.net, model.log, model.maxlen, model.divisors = TiedLogits(), log, 4, (1.0, 1.0)
        suffixes[flag] = model.predict_pairs(pairs)
    assert suffixes[False] == [[2, 2, 2]] * len(pairs)
    assert suffixes[True] == [[3, 3, 3]] * len(pairs)
