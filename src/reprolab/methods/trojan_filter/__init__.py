"""Input filtering against Trojan attacks (Do et al., ECCV 2022): IF, VIF and Filtering-then-Contrasting, with the
attacks as reusable poisoners and STRIP as a baseline. (AIF, Neural Cleanse, a Februus-like filter and the
input-aware dynamic attack are not built yet.)

Public API: `BadNetPlus`, `BlendedPlus`, `WaNet`, `attack_success` (attacks); `PlainFilter` (IF),
`VariationalFilter` (VIF), `FilterConfig`, `train_filter`, `FilterDefense` (wraps any frozen classifier:
`detect(x)`, `predict(x)`), `FilterCollapsed`; `STRIP`.
"""

from reprolab.methods.trojan_filter.attacks import BadNetPlus, BlendedPlus, WaNet, attack_success
from reprolab.methods.trojan_filter.filters import (FilterCollapsed, FilterConfig, FilterDefense, PlainFilter,
                                                    VariationalFilter, train_filter)
from reprolab.methods.trojan_filter.strip import STRIP

__all__ = ["BadNetPlus", "BlendedPlus", "WaNet", "attack_success", "FilterCollapsed", "FilterConfig", "FilterDefense",
           "PlainFilter", "VariationalFilter", "train_filter", "STRIP"]
