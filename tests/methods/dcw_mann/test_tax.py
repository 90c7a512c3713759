"""Tax et al.'s LSTM: every prefix padded to a fixed length, so a prediction does not depend on its batch; the
official time divisors, tie rule, Keras layers (hard-sigmoid gates included) and suffix-loop times behind their
flags."""

from typing import Callable

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from reprolab.methods.dcw_mann.baselines import (HardSigmoidLSTM, TaxConfig, TaxLSTM, TaxNetwork, mean_remaining_time,
                                                 next_class, sequence_dropout)
from reprolab.methods.dcw_mann.log import EventLog, Pairs, load_log, make_pairs, split_cases


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
    # the mean remaining time (Tax et al.'s divisor3) over the same cases: remaining 30, 20, 0 | 60, 0 | 1000, 0 | 0
    assert fit[False].remaining_mean == pytest.approx((50.0 / 3 + 30.0) / 2)
    assert fit[True].remaining_mean == pytest.approx((50.0 / 3 + 30.0 + 500.0 + 0.0) / 4)
    assert mean_remaining_time(log, [2]) == 500.0


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


class RecordingNet(torch.nn.Module):
    """Activity id 3 (class 2) with the scaled gap 0.5 for every input; keeps the inputs it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.inputs.append(x.clone())
        return torch.tensor([[0.0, 0.0, 5.0, 0.0]]).expand(len(x), -1), torch.full((len(x),), 0.5)


@pytest.mark.parametrize("official", [False, True])
def test_suffix_loop_times_of_a_predicted_event(official):
    """Case 0 at [0, 10] s, a prediction of gap 0.5 (scaled), divisors 4 and 8, mean remaining time 1000 s. Default:
    the event at 10 + 0.5 x 4 = 12 s. Tax et al.'s loop: 0.5 joins the seconds since the previous event as it is,
    the time since the start is 10 + 0.5, the clock (midnight, weekday) reads 10 + 0.5 x 1000 = 510 s."""
    model = TaxLSTM(TaxConfig(max_suffix=2, official_suffix_times=official))
    model.net, model.log, model.maxlen = RecordingNet(), tiny_log(), 4
    model.divisors, model.remaining_mean = (4.0, 8.0), 1000.0
    assert model.predict_pairs(Pairs(((1, 2),), ((3,),), (0,))) == [[3, 3]]
    first, second = (x[0].numpy() for x in model.net.inputs)
    assert np.array_equal(first[2:], second[1:3])                     # the true events' features are unchanged
    assert second[2, 4:6].tolist() == [10 / 4.0, 10 / 8.0]            # the true event at 10 s, either way
    seconds = (0.5, 10.5, 510.0) if official else (2.0, 12.0, 12.0)
    expected = [0, 0, 1, 3, seconds[0] / 4.0, seconds[1] / 8.0, seconds[2] / 86400, 3 / 7]   # 1970-01-01: Thursday
    assert second[3].tolist() == pytest.approx(expected)


def test_sequence_dropout_keeps_one_mask_over_the_time_steps():
    torch.manual_seed(0)
    x = torch.rand(6, 5, 4) + 1.0
    ratio = sequence_dropout(x, 0.5, training=True) / x
    assert torch.equal(ratio, ratio[:, :1].expand_as(ratio))         # each sample and feature: one mask for all steps
    assert set(ratio.unique().tolist()) == {0.0, 2.0}                 # inverted dropout: kept x / (1 - p)
    assert torch.equal(sequence_dropout(x, 0.5, training=False), x)


def lstm_inputs(net: TaxNetwork, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The input each LSTM of `net` receives on x, and the shared BatchNorm's output (B, T, H)."""
    seen: dict[str, torch.Tensor] = {}
    for name in ("shared", "act_lstm", "time_lstm"):
        getattr(net, name).register_forward_pre_hook(lambda _m, args, name=name: seen.__setitem__(name, args[0]))
    net.bn.register_forward_hook(lambda _m, _args, out: seen.__setitem__("bn", out.transpose(1, 2)))
    net(x)
    return seen, seen.pop("bn")


def test_official_keras_drops_each_lstm_input_with_one_mask_over_time():
    """Keras's LSTM(dropout=0.2): the shared LSTM reads x and each head's LSTM the shared BatchNorm's output, each
    dropped with its own mask, the same at every step; by default the shared LSTM reads x itself."""
    x = torch.rand(8, 5, 6) + 1.0
    torch.manual_seed(0)
    default, _ = lstm_inputs(TaxNetwork(6, 3, TaxConfig(hidden=16, dropout=0.5)).train(), x)
    assert torch.equal(default["shared"], x)
    torch.manual_seed(0)
    seen, normed = lstm_inputs(TaxNetwork(6, 3, TaxConfig(hidden=16, dropout=0.5, official_keras=True)).train(), x)
    masks = {"shared": seen["shared"] / x, "act_lstm": seen["act_lstm"] / normed,
             "time_lstm": seen["time_lstm"] / normed}
    for mask in masks.values():
        assert torch.allclose(mask, mask[:, :1].expand_as(mask))
        assert set(mask[:, 0].round().unique().tolist()) == {0.0, 2.0}
    assert not torch.equal(masks["act_lstm"], masks["time_lstm"])


def written_out_graph(net: TaxNetwork, x: torch.Tensor, p: float, keras: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """TaxNetwork's graph in training mode, step by step: by default nn.Dropout's draw on the shared LSTM's outputs,
    then on each head's last output; with Keras's layers one `sequence_dropout` mask on each LSTM's input."""
    if keras:
        shared = net.bn(net.shared(sequence_dropout(x, p, True))[0].transpose(1, 2)).transpose(1, 2)
        act = net.act_bn(net.act_lstm(sequence_dropout(shared, p, True))[0][:, -1])
        tim = net.time_bn(net.time_lstm(sequence_dropout(shared, p, True))[0][:, -1])
    else:
        shared = net.bn(F.dropout(net.shared(x)[0], p).transpose(1, 2)).transpose(1, 2)
        act = net.act_bn(F.dropout(net.act_lstm(shared)[0][:, -1], p))
        tim = net.time_bn(F.dropout(net.time_lstm(shared)[0][:, -1], p))
    return net.act_out(act), net.time_out(tim)[:, 0]


@pytest.mark.parametrize("keras", [False, True])
def test_tax_network_forward_equals_its_graph_written_out(keras):
    """The outputs, gradients and the random draws after them of one training forward, default and Keras's, are
    bit for bit those of the graph written out from the same generator state."""
    torch.manual_seed(0)
    net = TaxNetwork(6, 3, TaxConfig(hidden=5, dropout=0.3, official_keras=keras)).train()
    x = torch.rand(4, 7, 6)
    results = []
    for forward in (net, lambda v: written_out_graph(net, v, 0.3, keras)):
        torch.manual_seed(1)
        net.zero_grad()
        act, tim = forward(x)
        (act.sum() + tim.sum()).backward()
        results.append((act, tim, [q.grad.clone() for q in net.parameters() if q.grad is not None], torch.rand(3)))
    (act, tim, grads, after), (act_ref, tim_ref, grads_ref, after_ref) = results
    assert torch.equal(act, act_ref) and torch.equal(tim, tim_ref) and torch.equal(after, after_ref)
    assert len(grads) == len(grads_ref) and all(torch.equal(g, r) for g, r in zip(grads, grads_ref))


def test_official_keras_initialisation_and_batch_norm():
    """Glorot-uniform input kernels, orthogonal recurrent kernels, one bias (forget block 1) that stays the only
    trained one, Glorot-uniform Dense with zero bias; BatchNorm momentum 0.99 (0.01 in torch's terms), eps 1e-3."""
    torch.manual_seed(0)
    net = TaxNetwork(8, 3, TaxConfig(hidden=4, official_keras=True))
    for lstm in (net.shared, net.act_lstm, net.time_lstm):
        w_hh = lstm.weight_hh_l0.detach()
        assert torch.allclose(w_hh.T @ w_hh, torch.eye(4), atol=1e-5)
        limit = (6 / (lstm.input_size + 16)) ** 0.5
        assert lstm.weight_ih_l0.abs().max() <= limit and lstm.weight_ih_l0.abs().max() > 0.8 * limit
        assert lstm.bias_ih_l0.tolist() == [0.0] * 4 + [1.0] * 4 + [0.0] * 8
        assert lstm.bias_hh_l0.eq(0).all() and not lstm.bias_hh_l0.requires_grad
    assert net.act_out.bias.eq(0).all() and net.act_out.weight.abs().max() <= (6 / 8) ** 0.5
    assert [(bn.momentum, bn.eps) for bn in (net.bn, net.act_bn, net.time_bn)] == [(0.01, 1e-3)] * 3
    default = TaxNetwork(8, 3, TaxConfig(hidden=4))
    assert (default.bn.momentum, default.bn.eps) == (0.1, 1e-5) and default.shared.bias_hh_l0.requires_grad
    log = tiny_log()
    fit = TaxLSTM(TaxConfig(hidden=4, iterations=2, batch_size=2, eval_every=1, max_suffix=2,
                            official_keras=True)).fit(log, [0, 1], make_pairs(log, [0]), seed=0)
    assert fit.net.shared.bias_hh_l0.eq(0).all() and fit.net.shared.bias_ih_l0[4:8].ne(1).any()


def numpy_lstm(x: np.ndarray, lstm: torch.nn.LSTM, gate: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """h_1..h_T (B, T, H) of an LSTM with `lstm`'s weights (torch's layout, gates i, f, g, o) from zero states, `gate`
    on i, f and o: c = gate(f) c + gate(i) tanh(g), h = gate(o) tanh(c)."""
    w_ih, w_hh, b_ih, b_hh = (p.detach().double().numpy() for p in
                              (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0))
    h = c = np.zeros((x.shape[0], lstm.hidden_size))
    out = []
    for t in range(x.shape[1]):
        i, f, g, o = np.split(x[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 4, axis=1)
        c = gate(f) * c + gate(i) * np.tanh(g)
        h = gate(o) * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1)


def keras_hard_sigmoid(z: np.ndarray) -> np.ndarray:
    return np.clip(0.2 * z + 0.5, 0.0, 1.0)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def test_hard_sigmoid_lstm_computes_keras_gates_in_torch_layout():
    """Two steps of a 3 -> 2 LSTM with large weights, so some gate pre-activations lie beyond +-2.5 (clipped to 0 or
    1) and some within: the module equals the numpy LSTM with clip(0.2 z + 0.5, 0, 1) gates, not the sigmoid one."""
    torch.manual_seed(0)
    lstm = HardSigmoidLSTM(3, 2)
    with torch.no_grad():
        for p in lstm.parameters():
            p.mul_(6.0)
    x = torch.randn(4, 2, 3)
    out, (h, c) = lstm(x)
    hard = numpy_lstm(x.double().numpy(), lstm, keras_hard_sigmoid)
    assert out.shape == (4, 2, 2) and torch.equal(h[0], out[:, -1]) and c.shape == (1, 4, 2)
    assert np.allclose(out.detach().numpy(), hard, atol=1e-6)
    first = x[:, 0] @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + lstm.bias_hh_l0        # the first step's z (h_0 = 0)
    gates = torch.cat([first[:, :4], first[:, 6:]], dim=1).abs()                       # i, f and o
    assert (gates > 2.5).any() and (gates < 2.5).any()
    assert np.abs(hard - numpy_lstm(x.double().numpy(), lstm, sigmoid)).max() > 0.05
    sigmoid_out = torch.nn.LSTM.forward(lstm, x)[0]                                   # torch's kernel, same weights
    assert np.allclose(sigmoid_out.detach().numpy(), numpy_lstm(x.double().numpy(), lstm, sigmoid), atol=1e-6)


def test_official_keras_lstms_have_hard_sigmoid_gates_and_the_default_keeps_nn_lstm():
    torch.manual_seed(0)
    official = TaxNetwork(5, 3, TaxConfig(hidden=4, official_keras=True)).eval()
    default = TaxNetwork(5, 3, TaxConfig(hidden=4)).eval()
    names = ("shared", "act_lstm", "time_lstm")
    assert all(type(getattr(official, n)) is HardSigmoidLSTM for n in names)
    assert all(type(getattr(default, n)) is torch.nn.LSTM for n in names)
    assert official.state_dict().keys() == default.state_dict().keys()
    x = torch.randn(3, 6, 5)
    with torch.no_grad():
        expected = numpy_lstm(x.double().numpy(), official.shared, keras_hard_sigmoid)
        assert np.allclose(official.shared(x)[0].numpy(), expected, atol=1e-6)
        shared = default.bn(default.shared(x)[0].transpose(1, 2)).transpose(1, 2)        # nn.LSTM's own output
        act = default.act_out(default.act_bn(default.act_lstm(shared)[0][:, -1]))
        assert torch.equal(default(x)[0], act)
