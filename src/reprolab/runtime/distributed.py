"""torch.distributed set-up for experiments launched with `torchrun` (DDP: gloo on CPU, nccl on CUDA).

Launched plainly, `init_distributed()` returns a single-process `DistInfo` and nothing is initialised, so the
same experiment code runs with and without torchrun.
"""

from __future__ import annotations

import dataclasses
import os

import torch
import torch.distributed as dist


@dataclasses.dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | torch.device = "cpu") -> DistInfo:
    """Initialise the process group from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK)."""
    device = torch.device(device)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo(device=device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def wrap_model(model: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """DistributedDataParallel when running under torchrun with more than one process, else the model."""
    if not info.enabled:
        return model
    ids = [info.device.index] if info.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def shard(indices: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This rank's share of a batch of indices (every rank gets the same count; the tail is dropped)."""
    if not info.enabled:
        return indices
    per_rank = len(indices) // info.world_size
    return indices[info.rank * per_rank:(info.rank + 1) * per_rank]


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if not info.enabled:
        return value
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / info.world_size


def cleanup(info: DistInfo) -> None:
    """Wait for every rank, then tear the group down. Drop DDP-wrapped models first: a DDP reducer still alive
    at interpreter exit can hold gloo work whose destruction aborts the process (pytorch#179291)."""
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
