"""Balanced Q-learning (Karimpanal et al.): a convex mix of optimistic (max) and pessimistic (min) targets whose
weight beta is set per transition by the official rule.

Public API: `official_beta`, `closed_form_beta`, `closed_form_td_error`, `balanced_target` (numpy or torch),
`BalancedQ` (tabular, vectorised over runs, on `reprolab.rl.tabular`).
"""

from reprolab.methods.balanced_q.rule import (ETA, balanced_target, closed_form_beta, closed_form_td_error,
                                              official_beta)
from reprolab.methods.balanced_q.tabular import BalancedQ

__all__ = ["ETA", "balanced_target", "closed_form_beta", "closed_form_td_error", "official_beta", "BalancedQ"]
