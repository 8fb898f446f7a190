"""Timing, memory and disk figures shared by both sides of benchmarks/vs_original.py.

The same code measures both stacks, so neither side gets a friendlier
stopwatch. It runs under Python 3.7 with pytorch-lightning 1.3.4 (the original)
and under Python 3.11 with Lightning 2 (ours): hence no newer syntax, and the
hooks take the trailing arguments that differ between those versions as *unused.
"""

import json
import os
import resource
import time

import pytorch_lightning as pl

RESULT_PREFIX = "BENCH_RESULT "  # marks the one stdout line vs_original.py reads


class BatchClock(pl.Callback):
    """Records when each training batch ends, and how many real and padded tokens it held.

    Throughput is taken between batch ends within an epoch, after `warmup`
    batches of the first epoch. It covers the data loader, forward, backward
    and the optimizer step, and leaves out validation and each epoch's start-up
    (worker processes, allocator warm-up), which are counted in the epoch times.
    The process's CPU time is recorded beside the wall time: on a machine other
    jobs share, wall time swells with their load and CPU time much less
    (DataLoader worker processes are not in it).
    """

    def __init__(self, warmup, turns=None):
        self.warmup = warmup
        self.turns = turns
        self.epoch_starts = []
        self.batches = []  # (epoch, end time, process CPU time, samples, real tokens, padded tokens)

    def now(self):
        """Wall time without the time spent waiting for this side's turn."""
        return time.perf_counter() - (self.turns.waited if self.turns else 0.0)

    def on_train_start(self, trainer, pl_module, *unused):
        if self.turns:
            self.turns.ready()

    def on_train_end(self, trainer, pl_module, *unused):
        if self.turns:
            self.turns.finish()

    def on_train_epoch_start(self, trainer, pl_module, *unused):
        self.epoch_starts.append(self.now())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *unused):
        mask = batch["attention_mask"]
        # mask.sum() stays a tensor until summary(): int() here would make the host wait for a GPU every step
        self.batches.append((trainer.current_epoch, self.now(), time.process_time(),
                             mask.shape[0], mask.sum(), mask.numel()))
        if self.turns:
            self.turns.after_batch(len(self.batches))

    def summary(self):
        seconds, cpu_seconds, samples, real, padded, steps = 0.0, 0.0, 0, 0, 0, 0
        seen_in_epoch = 0
        for previous, batch in zip([None] + self.batches, self.batches):
            same_epoch = previous is not None and previous[0] == batch[0]
            seen_in_epoch = seen_in_epoch + 1 if same_epoch else 1
            if same_epoch and (batch[0] > 0 or seen_in_epoch > self.warmup):
                seconds += batch[1] - previous[1]
                cpu_seconds += batch[2] - previous[2]
                samples += batch[3]
                real += int(batch[4])
                padded += batch[5]
                steps += 1
        if not steps:
            raise RuntimeError("no batch was timed: give the run more than %d batches" % (self.warmup + 1))
        epoch_ends = {}
        for batch in self.batches:
            epoch_ends[batch[0]] = batch[1]
        return {
            "train_samples_per_s": samples / seconds,
            "ms_per_step": 1000 * seconds / steps,
            "cpu_ms_per_step": 1000 * cpu_seconds / steps,
            "timed_steps": steps,
            "real_tokens_per_batch": real / steps,
            "padded_tokens_per_batch": padded / steps,
            "padding_waste": 1 - real / padded,
            "epoch_s": [epoch_ends[e] - start for e, start in enumerate(self.epoch_starts) if e in epoch_ends],
        }


class Turns:
    """Two training processes, alive at once, take turns on the CPU: `every` batches each.

    This machine's speed drifts by up to 15% from one minute to the next.
    Timed one after the other, the two sides could train in different spells
    and the ratio would swing with them; taking turns every few seconds, both
    sample the same spells. Named pipes (FIFOs) carry one byte at a time:
    b"x" = your turn, b"d" = I have finished training. vs_original.py makes
    the pipes, waits for both sides' b"r" on `ready` (each is then at its
    first batch, tokenization done), and gives the first turn. The time a
    side spends waiting is taken out of its clock.
    """

    def __init__(self, mine, theirs, ready, every, total_batches):
        self.mine = os.open(mine, os.O_RDWR)  # O_RDWR: opening never blocks, whoever comes first
        self.theirs = os.open(theirs, os.O_RDWR)
        self.ready_pipe = os.open(ready, os.O_RDWR)
        self.every = every
        self.total = total_batches
        self.other_done = False
        self.finished = False
        self.waited = 0.0

    @classmethod
    def from_plan(cls, plan):
        turns = plan.get("turns")
        if not turns:
            return None
        batches = -(-plan["train_pairs"] // plan["batch_size"]) * plan["epochs"]
        return cls(turns["mine"], turns["theirs"], turns["ready"], turns["every"], batches)

    def ready(self):
        os.write(self.ready_pipe, b"r")
        self.wait()

    def wait(self):
        start = time.perf_counter()
        if os.read(self.mine, 1) == b"d":
            self.other_done = True
        self.waited += time.perf_counter() - start

    def after_batch(self, count):
        if count == self.total:  # finished: let the other side train out alone, then validate together
            self.finish()
            if not self.other_done:
                self.wait()
        elif count % self.every == 0 and not self.other_done and not self.finished:
            os.write(self.theirs, b"x")
            self.wait()

    def finish(self):
        """Tell the other side this one trains no more (also at the end of training, in case the plan's
        batch count was wrong: the other side must never wait for a turn that will not come)."""
        if not self.finished:
            self.finished = True
            os.write(self.theirs, b"d")


def peak_rss_mb(who=resource.RUSAGE_SELF):
    """Peak resident memory of this process, or with RUSAGE_CHILDREN of its largest finished child
    (a DataLoader worker), in MB: Linux reports kilobytes."""
    return resource.getrusage(who).ru_maxrss / 1024


def files_mb(paths):
    """Total size of the given files, and of every file under the given folders."""
    total = 0
    for path in paths:
        if os.path.isdir(path):
            total += sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
        else:
            total += os.path.getsize(path)
    return total / 2 ** 20


def report(figures):
    """Print the figures as the one line vs_original.py parses."""
    print(RESULT_PREFIX + json.dumps(figures), flush=True)
