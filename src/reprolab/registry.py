"""The ten methods: name -> paper, status and the module holding its experiment.

An experiment module defines `CONFIGS: dict[scale, config]`, `run(config, ctx) -> RunResult` and
`NEEDS_EXTRA_DATA: bool` (True when its quick run needs data beyond ../shared/data and installed packages).
Modules are imported only when a method is run, so `reprolab list` stays fast.
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType


@dataclasses.dataclass(frozen=True)
class MethodEntry:
    name: str
    paper: str
    experiment_module: str | None  # None: not implemented yet

    @property
    def implemented(self) -> bool:
        return self.experiment_module is not None

    def load(self) -> ModuleType:
        if self.experiment_module is None:
            raise ValueError(f"method {self.name!r} is not implemented yet; implemented: {implemented_names()}")
        return importlib.import_module(self.experiment_module)


METHODS: dict[str, MethodEntry] = {e.name: e for e in [
    MethodEntry("neural_collapse", "Dang et al., Neural Collapse in Deep Linear Networks, ICML 2023",
                "reprolab.methods.neural_collapse.experiment"),
    MethodEntry("mad", "Do et al., Momentum Adversarial Distillation, NeurIPS 2022", "reprolab.methods.mad.experiment"),
    MethodEntry("aim", "Vo et al., Additive instance-wise multi-class explainer (AIM), ICLR 2023", None),
    MethodEntry("trojan_filter", "Do et al., Towards effective and robust neural Trojan defenses via input "
                "filtering, ECCV 2022", "reprolab.methods.trojan_filter.experiment"),
    MethodEntry("safl", "Tran et al., SAFL: self-attention scene text recognizer with focal loss, ICMLA 2020", None),
    MethodEntry("domain_invariance", "Phung et al., On learning domain-invariant representations for transfer "
                "learning with multiple sources, NeurIPS 2021", "reprolab.methods.domain_invariance.experiment"),
    MethodEntry("mbec", "Le et al., Model-based episodic memory induces dynamic hybrid controls, NeurIPS 2021",
                "reprolab.methods.mbec.experiment"),
    MethodEntry("balanced_q", "Karimpanal et al., Balanced Q-learning: combining the influence of optimistic and "
                "pessimistic targets, arXiv:2111.02787", "reprolab.methods.balanced_q.experiment"),
    MethodEntry("dcw_mann", "Khan et al., Memory-augmented neural networks for predictive process analytics", None),
    MethodEntry("invalidator", "Le-Cong et al., Invalidator: automated patch correctness assessment via "
                "semantic and syntactic reasoning, TSE 2023", "reprolab.methods.invalidator.experiment"),
]}


def implemented_names() -> list[str]:
    return [name for name, entry in METHODS.items() if entry.implemented]


def get(name: str) -> MethodEntry:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(METHODS)}")
    return METHODS[name]
