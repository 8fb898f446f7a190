"""The course's whole run, end to end, timed: 5 epochs of a kcbert-base-shaped model on a KLUE-NLI-size corpus.

    python benchmarks/course_run.py                          # on a GPU: the full run, a few minutes
    python benchmarks/course_run.py --length-grouped         # the same with length-grouped batches
    python benchmarks/course_run.py --shape small --max-steps 30   # a code-path check on a CPU
    python benchmarks/course_run.py --compile off            # on a GPU: eager, for comparison

gpu_throughput.py times a bare training loop; this times what a learner waits
for: `nlpbook_helpers.pipeline.train` exactly as the command line calls it,
Lightning, validation after every epoch, last.ckpt and best/ exports
included. Nothing is downloaded: workload.py writes the synthetic learnable
corpus (24,998 train and 3,000 dev pairs in KLUE-NLI's format), its WordPiece
vocabulary and a random-init BERT of the requested shape. A random init
trains exactly as fast as kcbert-base's pretrained weights; its val_acc says
only that the run learns the synthetic task.
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere in the repository
import workload  # noqa: E402
from batch_clock import BatchClock  # noqa: E402
from nlpbook_helpers import pipeline  # noqa: E402
from nlpbook_helpers.settings import Settings  # noqa: E402


class SaveClock:
    """How long each write of checkpoints/last.ckpt holds training up: the run's CheckpointIO save (torch.save,
    which copies the GPU tensors to the host, fsync and rename), timed around the call."""

    def __init__(self, checkpoint_io):
        self.seconds = []
        save = checkpoint_io.save_checkpoint

        def timed(*args, **kwargs):
            started = time.perf_counter()
            save(*args, **kwargs)
            self.seconds.append(time.perf_counter() - started)

        checkpoint_io.save_checkpoint = timed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(workload.MODEL_SHAPES), default="full")
    parser.add_argument("--work-dir", default="/tmp/nlpbook-course-run")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--max-steps", type=int, default=-1)
    parser.add_argument("--length-grouped", action="store_true")
    parser.add_argument("--compile", choices=["auto", "on", "off"], default="auto",
                        help="the compile setting (auto: on with a CUDA GPU)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args(argv)

    work_dir = Path(args.work_dir)
    started = time.perf_counter()
    paths = workload.write_workload(work_dir, args.shape, seed=7)
    workload_s = time.perf_counter() - started
    run_dir = work_dir / ("run-grouped" if args.length_grouped else "run")
    settings = Settings(model_name=paths["our_model_dir"], data_dir=paths["corpus_dir"], work_dir=str(run_dir),
                        epochs=args.epochs, max_steps=args.max_steps, length_grouped=args.length_grouped,
                        compile=args.compile)
    shutil.rmtree(settings.output_dir, ignore_errors=True)  # a fresh run, never resumed from an earlier one

    clock = BatchClock(warmup=10)
    started = time.perf_counter()
    run = pipeline.prepare_run(settings)
    saves = SaveClock(run.trainer.strategy.checkpoint_io)
    metrics = pipeline.fit(run, callbacks=[clock])  # the learner's run (pipeline.train), plus stopwatches
    total_s = time.perf_counter() - started

    timing = clock.summary()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    figures = {
        "device": device, "torch": torch.__version__, "shape": args.shape, "length_grouped": args.length_grouped,
        "train_call_s": round(total_s, 1), "epoch_s": [round(s, 1) for s in timing["epoch_s"]],
        "train_samples_per_s": round(timing["train_samples_per_s"], 1), "ms_per_step": round(timing["ms_per_step"], 2),
        "padding_waste": round(timing["padding_waste"], 3), "val_acc": [e["val_acc"] for e in metrics["epochs"]],
        "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None,
        "workload_s": round(workload_s, 1),
        "compiled": run.model._compiled_call_impl is not None,
        "checkpoint_write_s": [round(s, 2) for s in saves.seconds],
    }
    print(f"{device}, torch {torch.__version__}, {args.shape} BERT, {args.epochs} epochs, "
          f"length_grouped={args.length_grouped}")
    print(f"pipeline.train() wall time: {total_s:.1f} s ({total_s / 60:.2f} min), "
          f"epochs (training part) {', '.join(f'{s:.1f}' for s in timing['epoch_s'])} s")
    print(f"training {timing['train_samples_per_s']:.0f} samples/s, {timing['ms_per_step']:.1f} ms/step, "
          f"padding waste {100 * timing['padding_waste']:.1f}%")
    print(f"compiled={figures['compiled']}; checkpoint writes: {len(saves.seconds)}, "
          f"seconds each {', '.join(f'{s:.2f}' for s in saves.seconds)}")
    print("val_acc per epoch: " + ", ".join(f"{e['val_acc']:.4f}" for e in metrics["epochs"]))
    print("BENCH_COURSE_RUN " + json.dumps(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
