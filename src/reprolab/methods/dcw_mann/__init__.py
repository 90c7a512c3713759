"""DCw-MANN: a dual-controller, write-protected memory-augmented network (a DNC as encoder-decoder) for next-activity
and suffix prediction on business-process event logs (Khan et al., arXiv:1802.00938; official code DeepProcess).

Public API:
- `SuffixPredictor(variant=...)`: `.fit(log, case=..., activity=..., timestamp=..., end_activities=...)`,
  `.predict(prefixes)`, `.predict_proba(prefixes)`, `.next_activity(prefixes)`, `.save(path)`, `.load(path)`;
- the models: `MemoryEncoderDecoder`, `ModelConfig` (variants "lstm_shared", "dnc", "dc_mann", "dcw_mann"), the
  DNC memory functions in `memory`, `TFLSTMCell` (TF1's single-bias LSTM cell); the official LSTM seq2seq baseline
  `Seq2SeqAttention`, `Seq2SeqConfig`;
- event logs: `EventLog`, `load_log` (the five real logs), `read_csv`, `from_dataframe` (pm4py's pandas output),
  `make_pairs`, `split_cases`;
- training and metrics: `TrainConfig`, `train`, `train_seeds` (several seeds of a memory model or of the LSTM
  seq2seq at once), `evaluate`, `suffix_similarity`, `score`;
- baselines: `MostFrequentSuffix`, `TaxLSTM`.
"""

from reprolab.registry import MethodEntry, lazy_api

ENTRY = MethodEntry("dcw_mann", "Khan et al., Memory-augmented neural networks for predictive process analytics "
                    "(DeepProcess), arXiv:1802.00938", "reprolab.methods.dcw_mann.experiment")

_API = {
    "SuffixPredictor": "reprolab.methods.dcw_mann.predictor:SuffixPredictor",
    "MemoryEncoderDecoder": "reprolab.methods.dcw_mann.model:MemoryEncoderDecoder",
    "ModelConfig": "reprolab.methods.dcw_mann.model:ModelConfig",
    "TFLSTMCell": "reprolab.methods.dcw_mann.model:TFLSTMCell",
    "Seq2SeqAttention": "reprolab.methods.dcw_mann.seq2seq:Seq2SeqAttention",
    "Seq2SeqConfig": "reprolab.methods.dcw_mann.seq2seq:Seq2SeqConfig",
    "memory": "reprolab.methods.dcw_mann.memory",
    "EventLog": "reprolab.methods.dcw_mann.log:EventLog",
    "Pairs": "reprolab.methods.dcw_mann.log:Pairs",
    "load_log": "reprolab.methods.dcw_mann.log:load_log",
    "read_csv": "reprolab.methods.dcw_mann.log:read_csv",
    "from_dataframe": "reprolab.methods.dcw_mann.log:from_dataframe",
    "make_pairs": "reprolab.methods.dcw_mann.log:make_pairs",
    "split_cases": "reprolab.methods.dcw_mann.log:split_cases",
    "TrainConfig": "reprolab.methods.dcw_mann.training:TrainConfig",
    "train": "reprolab.methods.dcw_mann.training:train",
    "train_seeds": "reprolab.methods.dcw_mann.stacked:train_seeds",
    "evaluate": "reprolab.methods.dcw_mann.training:evaluate",
    "suffix_similarity": "reprolab.methods.dcw_mann.metrics:suffix_similarity",
    "score": "reprolab.methods.dcw_mann.metrics:score",
    "MostFrequentSuffix": "reprolab.methods.dcw_mann.baselines:MostFrequentSuffix",
    "TaxLSTM": "reprolab.methods.dcw_mann.baselines:TaxLSTM",
}
__getattr__, __dir__ = lazy_api(__name__, _API)
__all__ = list(_API)
