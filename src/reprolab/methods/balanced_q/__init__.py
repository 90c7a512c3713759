"""Balanced Q-learning (Karimpanal et al.): a convex mix of optimistic (max) and pessimistic (min) targets whose
weight beta is set per transition by the official rule.

Public API: `official_beta`, `closed_form_beta`, `closed_form_td_error`, `balanced_target` (numpy or torch),
`BalancedQ` (tabular, vectorised over runs, on `reprolab.rl.tabular`).
"""

from reprolab.registry import MethodEntry, lazy_api

ENTRY = MethodEntry("balanced_q",
                    "Karimpanal et al., Balanced Q-learning: combining the influence of optimistic and "
                    "pessimistic targets, arXiv:2111.02787",
                    "reprolab.methods.balanced_q.experiment")

_API = {
    "ETA": "reprolab.methods.balanced_q.rule:ETA",
    "balanced_target": "reprolab.methods.balanced_q.rule:balanced_target",
    "closed_form_beta": "reprolab.methods.balanced_q.rule:closed_form_beta",
    "closed_form_td_error": "reprolab.methods.balanced_q.rule:closed_form_td_error",
    "official_beta": "reprolab.methods.balanced_q.rule:official_beta",
    "BalancedQ": "reprolab.methods.balanced_q.tabular:BalancedQ",
}
__getattr__, __dir__ = lazy_api(__name__, _API)
__all__ = list(_API)
