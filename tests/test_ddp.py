"""--devices N goes through Lightning's DDP strategy; here with 2 CPU processes talking over gloo."""

import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader

from nlpbook_helpers.run.checkpoints import RandomStates
from nlpbook_helpers.features import LengthGroupedSampler

WORLD_SIZE = 2


def ddp_train(work_dir, *args):
    return subprocess.run(
        [sys.executable, "-m", "nlpbook_helpers", "train", "--sample", "--work-dir", str(work_dir),
         "--accelerator", "cpu", "--devices", "2", *args],
        capture_output=True, text=True, timeout=600,
    )


@pytest.mark.parametrize("length_grouped", [False, True])
def test_two_process_ddp_trains_and_writes_once(tmp_path, length_grouped):
    steps_per_epoch = 11  # our samplers deal the 22 full batches of 16 whole: 11 to each process
    result = ddp_train(tmp_path, "--epochs", "1", "--length-grouped", str(length_grouped))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]  # rank 1 ended as cleanly as rank 0
    assert "distributed_backend=gloo" in result.stderr + result.stdout
    assert "All distributed processes registered. Starting with 2 processes" in result.stderr + result.stdout
    assert result.stdout.count("best epoch") == 1, result.stdout  # one summary, from rank 0
    output = tmp_path / "runs" / "sample"
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["epochs"][-1]["step"] == steps_per_epoch
    assert (output / "best" / "model.safetensors").exists()
    checkpoint = torch.load(output / "checkpoints" / "last.ckpt", weights_only=True)
    assert len(checkpoint["callbacks"]["RandomStates"]["rng_per_rank"]) == WORLD_SIZE


def test_two_process_ddp_resumed_mid_epoch_ends_as_an_uninterrupted_run(tmp_path):
    """Stopped mid-epoch (max_steps, faithful schedule) and continued: the same batches on each process, the same
    metrics. (A SIGKILL leaves the same last.ckpt; test_resume.py kills the one-process run.)"""
    common = ["--epochs", "2", "--schedule", "faithful", "--checkpoint-every", "4"]
    straight = ddp_train(tmp_path / "straight", *common)
    stopped = ddp_train(tmp_path / "resumed", *common, "--max-steps", "16")  # 5 of epoch 2's 11 steps
    resumed = ddp_train(tmp_path / "resumed", *common)
    for result in (straight, stopped, resumed):
        assert result.returncode == 0, result.stderr[-3000:]
    metrics = [json.loads((tmp_path / run / "runs" / "sample" / "metrics.json").read_text())
               for run in ("straight", "resumed")]
    print(json.dumps(metrics))
    assert metrics[0] == metrics[1] and [row["step"] for row in metrics[0]["epochs"]] == [11, 22]


def spawn(function, tmp_path):
    """Run function(rank, store, tmp_path) in 2 processes (forked: they start without importing anything again)."""
    mp.start_processes(function, args=(tmp_path / "store", tmp_path), nprocs=WORLD_SIZE, start_method="fork")


def in_process_group(rank, store, work):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD_SIZE)
    try:
        work(rank)
    finally:
        dist.destroy_process_group()


def deal_batches(rank, store, out):
    def work(rank):
        lengths = [10 + (i * 7919) % 54 for i in range(1000)]  # 62 full batches of 16 and one of 8
        sampler = LengthGroupedSampler(lengths, batch_size=16, seed=7)
        epochs = []
        for epoch in range(3):
            sampler.set_epoch(epoch)
            epochs.append([batch.tolist() for batch in DataLoader(range(1000), batch_size=16, sampler=sampler)])
        (out / f"rank{rank}.json").write_text(json.dumps({"len": len(sampler), "epochs": epochs}))
    in_process_group(rank, store, work)


def test_length_groups_are_dealt_whole_to_each_process_and_reshuffled_every_epoch(tmp_path):
    spawn(deal_batches, tmp_path)
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(WORLD_SIZE)]
    lengths = [10 + (i * 7919) % 54 for i in range(1000)]
    single = LengthGroupedSampler(lengths, batch_size=16, seed=7)
    for epoch in range(3):
        single.set_epoch(epoch)
        loader = DataLoader(range(1000), batch_size=16, sampler=single)
        whole_batches = {frozenset(batch.tolist()) for batch in loader}
        dealt = [[frozenset(batch) for batch in rank["epochs"][epoch]] for rank in ranks]
        assert all(len(batches) == 31 for batches in dealt)  # 62 full batches, half to each process
        assert all(set(batches) <= whole_batches for batches in dealt)  # the batches of similar length, uncut
        assert not set().union(*dealt[0]) & set().union(*dealt[1])  # no pair on both processes
    for rank in ranks:
        assert rank["len"] == 31 * 16
        assert rank["epochs"][0] != rank["epochs"][1] != rank["epochs"][2]


def save_and_restore_random_states(rank, store, out):
    def draws():
        return [random.random(), float(np.random.rand()), torch.rand(1).item()]

    def work(rank):
        random.seed(rank), np.random.seed(rank), torch.manual_seed(rank)  # each process its own states
        callback = RandomStates()
        state = callback.state_dict()  # gathers every process's states, as Lightning calls it on each
        if rank == 0:
            torch.save(state, out / "rng.pt")
        expected = draws()
        dist.barrier()
        callback.load_state_dict(torch.load(out / "rng.pt", weights_only=True))
        (out / f"rank{rank}.json").write_text(json.dumps({"expected": expected, "restored": draws()}))
    in_process_group(rank, store, work)


def test_each_process_gets_back_its_own_random_states(tmp_path):
    spawn(save_and_restore_random_states, tmp_path)
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(WORLD_SIZE)]
    for rank in ranks:
        assert rank["restored"] == rank["expected"]
    assert ranks[0]["expected"] != ranks[1]["expected"]


def test_process_rank_before_ddp_starts_reads_what_the_launcher_set(monkeypatch):
    from nlpbook_helpers.run.sampling import process_rank

    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert process_rank() == (0, 1)  # no launcher
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")  # what Lightning's launcher gives the second process
    assert process_rank() == (1, 2)
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("NODE_RANK", "1")  # the first process of the second machine: not rank 0
    assert process_rank()[0] != 0
    monkeypatch.setenv("RANK", "3")  # torchrun's
    assert process_rank() == (3, 2)
