"""Launched by test_distributed.py under torchrun: a few DDP steps on rank-specific data."""

import gc
import json
import sys

import torch
import torch.distributed as dist

from reprolab.runtime.distributed import all_reduce_mean, cleanup, init_distributed, shard, wrap_model

info = init_distributed("cpu")
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
initial = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
ddp = wrap_model(model, info)
opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
generator = torch.Generator().manual_seed(100)
x_all, y_all = torch.randn(64, 4, generator=generator), torch.randn(64, 2, generator=generator)
for step in range(5):
    idx = shard(torch.arange(step * 8, step * 8 + 8) % 64, info)  # each rank sees different samples
    loss = ((ddp(x_all[idx]) - y_all[idx]) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
params = torch.cat([p.detach().flatten() for p in model.parameters()])
gathered = [torch.zeros_like(params) for _ in range(info.world_size)]
dist.all_gather(gathered, params)
mean_rank = all_reduce_mean(torch.tensor([float(info.rank)]), info).item()
if info.is_main:
    json.dump({"world_size": info.world_size, "max_diff": max((g - params).abs().max().item() for g in gathered),
               "moved": (params - initial).abs().max().item(), "mean_rank": mean_rank}, open(sys.argv[1], "w"))
del ddp, opt  # free the DDP reducer's pending gloo work before teardown (pytorch#179291: else SIGABRT at exit)
gc.collect()
cleanup(info)
