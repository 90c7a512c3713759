"""SAFL: a self-attention scene text recognizer with a TPS rectifier and focal loss (Tran et al., ICMLA 2020;
official code ICMLA-SAFL/SAFL_pytorch).

Public API:
- `Recognizer.from_config(...)`: `.fit(dataset)`, `.recognize(images | image | folder)`, `.evaluate(dataset)`,
  `.save(path)`, `Recognizer.load(path)`; `FolderReading` (a folder's strings by file name, the files skipped);
- the model: `SAFL`, `SAFLConfig` (size "official" | "light", stn, variant "official" | "clean"), `CRNN`;
- data: `WordImages`, `read_lmdb`, `LmdbWordImages` (streamed from disk), `read_label_file`, `write_lmdb`,
  `prepare_image` (any image -> the model's input pixels), `read_images` (a folder), `ImageError`, the generator
  `SynthConfig`, `generate`, `SyntheticWordImages`;
- loss and metrics: `focal_loss`, `noam`, `normalize`, `word_accuracy`, `one_minus_ned`.
"""

from reprolab.registry import MethodEntry, lazy_api

ENTRY = MethodEntry("safl", "Tran et al., SAFL: a self-attention scene text recognizer with focal loss, ICMLA 2020",
                    "reprolab.methods.safl.experiment")

_API = {
    "Recognizer": "reprolab.methods.safl.recognizer:Recognizer",
    "TrainConfig": "reprolab.methods.safl.recognizer:TrainConfig",
    "FolderReading": "reprolab.methods.safl.recognizer:FolderReading",
    "SAFL": "reprolab.methods.safl.model:SAFL",
    "SAFLConfig": "reprolab.methods.safl.model:SAFLConfig",
    "CRNN": "reprolab.methods.safl.baselines:CRNN",
    "WordImages": "reprolab.methods.safl.datasets:WordImages",
    "read_lmdb": "reprolab.methods.safl.datasets:read_lmdb",
    "LmdbWordImages": "reprolab.methods.safl.datasets:LmdbWordImages",
    "prepare_image": "reprolab.methods.safl.images:prepare_image",
    "read_images": "reprolab.methods.safl.images:read_images",
    "ImageError": "reprolab.methods.safl.images:ImageError",
    "read_label_file": "reprolab.methods.safl.datasets:read_label_file",
    "write_lmdb": "reprolab.methods.safl.datasets:write_lmdb",
    "SynthConfig": "reprolab.methods.safl.synth:SynthConfig",
    "generate": "reprolab.methods.safl.synth:generate",
    "SyntheticWordImages": "reprolab.methods.safl.synth:SyntheticWordImages",
    "focal_loss": "reprolab.methods.safl.loss:focal_loss",
    "noam": "reprolab.methods.safl.loss:noam",
    "normalize": "reprolab.methods.safl.vocab:normalize",
    "word_accuracy": "reprolab.methods.safl.vocab:word_accuracy",
    "one_minus_ned": "reprolab.methods.safl.vocab:one_minus_ned",
}
__getattr__, __dir__ = lazy_api(__name__, _API)
__all__ = list(_API)
