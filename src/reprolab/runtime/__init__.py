"""What every experiment needs: configs, seeding, devices, the training loop, checkpoints, results, DDP."""

from reprolab.runtime.claims import Claim, claims_table
from reprolab.runtime.config import (SCALES, ConfigError, Scale, apply_overrides, config_to_dict, cpu_threads,
                                     resolve_device, seed_everything)
from reprolab.runtime.results import RunContext, RunResult
from reprolab.runtime.train import Checkpointer, run_loop

__all__ = ["Claim", "claims_table", "SCALES", "ConfigError", "Scale", "apply_overrides", "config_to_dict",
           "cpu_threads", "resolve_device", "seed_everything", "RunContext", "RunResult", "Checkpointer",
           "run_loop"]
