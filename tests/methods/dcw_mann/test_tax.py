"""Tax et al.'s LSTM pads every prefix to a fixed length, so a prediction does not depend on its batch."""

import numpy as np

from reprolab.methods.dcw_mann.baselines import TaxConfig, TaxLSTM
from reprolab.methods.dcw_mann.log import load_log, make_pairs, split_cases


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
