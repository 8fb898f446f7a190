"""The order of the training pairs: shuffled anew each epoch, and the same again after a disconnect.

DataLoader(shuffle=True) cannot say how far it got, so a run resumed mid-epoch would see some pairs twice and others
never. EpochSampler derives each epoch's order from (seed, epoch) alone and can start at any batch; ResumableLoader
tells Lightning where it is. With DDP every process builds the same batches and takes every world_size-th whole one
(the few left over sit out that epoch), so Lightning must not add its DistributedSampler (build_trainer turns it off).
"""

import math
import os
import random

import torch
from torch.utils.data import DataLoader, Sampler


class EpochSampler(Sampler):
    """Batches of shuffled indices, a new order each epoch (Lightning calls set_epoch); `start` skips batches."""

    def __init__(self, size: int, batch_size: int, seed: int):
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.epoch = self.start = 0  # start: batches of this epoch already trained, when a run resumes mid-epoch

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def epoch_batches(self, rng: random.Random) -> list[list[int]]:
        order = list(range(self.size))
        rng.shuffle(order)
        return [order[i : i + self.batch_size] for i in range(0, self.size, self.batch_size)]

    def __len__(self):
        world_size = process_rank()[1]
        return self.size if world_size == 1 else self.size // self.batch_size // world_size * self.batch_size

    def __iter__(self):  # a generator: the epoch and `start` are read when the first batch is drawn, not at iter()
        batches = self.epoch_batches(random.Random(self.seed + self.epoch))
        rank, world_size = process_rank()
        if world_size > 1:
            full = [batch for batch in batches if len(batch) == self.batch_size]
            batches = full[: len(full) // world_size * world_size][rank::world_size]
        # The DataLoader cuts this stream into batch_size pieces again: a short batch anywhere but last
        # would shift every later cut across two groups (24,998 pairs: 4.9% padding instead of 1.0%).
        batches.sort(key=lambda batch: len(batch) < self.batch_size)
        start, self.start = self.start, 0  # only the resumed epoch starts late
        yield from (i for batch in batches[start:] for i in batch)


def process_rank() -> tuple[int, int]:
    """(this process's rank, number of processes): torch.distributed's once DDP has started, before it the launcher's
    RANK, or LOCAL_RANK and NODE_RANK (on a machine but the first only certainly not 0); (0, 1) with no launcher."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    env = os.environ
    node, local = int(env.get("NODE_RANK", env.get("GROUP_RANK", 0))), int(env.get("LOCAL_RANK", 0))
    return int(env.get("RANK", node * int(env.get("LOCAL_WORLD_SIZE", 1)) + local)), int(env.get("WORLD_SIZE", 1))


class ResumableLoader(DataLoader):
    """A DataLoader over an EpochSampler that Lightning can save and restore in the middle of an epoch. `trained`:
    the batches of this epoch trained, set by LastCheckpoint after each step (Lightning draws one batch ahead)."""

    trained = 0

    def state_dict(self) -> dict:
        return {"epoch": self.sampler.epoch, "batches": self.trained}

    def load_state_dict(self, state: dict) -> None:
        sampler = self.sampler
        whole_epoch = state["batches"] >= math.ceil(len(sampler) / sampler.batch_size)
        sampler.epoch, sampler.start = (state["epoch"] + 1, 0) if whole_epoch else (state["epoch"], state["batches"])
        self.trained = sampler.start
