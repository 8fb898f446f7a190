"""Training throughput on one NVIDIA GPU: the original course's recipe against ours, in under 4 minutes.

    python benchmarks/gpu_throughput.py              # kcbert-base shape on the GPU
    python benchmarks/gpu_throughput.py --cpu-smoke  # tiny shapes, a few steps, on the CPU

Everything is built from configs, nothing is downloaded: a BERT of
kcbert-base's shape (vocab 30,000, 12 layers, hidden 768, 300 positions) with
random weights, and 24,998 synthetic token pairs whose lengths follow those of
benchmarks/workload.py's KLUE-like corpus (premise ~24 tokens, hypothesis ~14).
Random weights train exactly as fast as pretrained ones.

The rows share one plain training loop, so only the recipe differs:
- original: every pair padded to 64, fp32, AdamW stepping one parameter at a
  time (as transformers' old AdamW did), pageable host memory;
- ours: nlpbook_helpers' own collator and length-grouped sampler (each batch
  padded to its longest pair), bf16 autocast (fp16 with a GradScaler below
  compute capability 8, where bf16 is slow), fused AdamW, pinned memory with
  non-blocking copies, and no cuDNN attention (as the package's trainer sets:
  cuDNN plans each new batch shape, ~0.6 s each on an H200);
- ours + torch.compile: the same, compiled with dynamic sequence length.
Lightning's own per-step overhead is the same for both stacks and left out.

Model FLOP utilization = 6 x non-embedding parameters x real (unpadded) tokens
per second / the GPU's dense peak for the row's precision. Padding is wasted
work, so it lowers MFU. Embedding lookups are not multiply-adds and attention
scores are not counted, so this slightly understates the work done.
"""

import argparse
import random
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere in the repository
from nlpbook_helpers.features import LengthGroupedSampler, PadCollator  # noqa: E402
from nlpbook_helpers.runtime import Runtime  # noqa: E402
from nlpbook_helpers.support.speedups import use_gpu_speedups  # noqa: E402

TRAIN_PAIRS, BATCH_SIZE, EPOCHS, MAX_SEQ_LENGTH = 24_998, 32, 5, 64  # the course's KLUE-NLI run
PREMISE_TOKENS, HYPOTHESIS_TOKENS = (24.0, 7.5), (13.7, 3.0)  # mean, std measured on workload.py's corpus
KCBERT_BASE = dict(vocab_size=30000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                   intermediate_size=3072, max_position_embeddings=300)
TINY = dict(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=128, max_position_embeddings=300)

# Dense peak TFLOP/s: (bf16, or fp16 where bf16 has no tensor cores; fp32 without TF32).
# Matched by substring in this order, so "H100 PCIe" before "H100" and "L40S" before "L4".
PEAK_TFLOPS = [("H100 PCIe", 756, 51), ("H100", 989, 67), ("H200", 989, 67), ("A100", 312, 19.5),
               ("L40S", 362, 91.6), ("L4", 121, 30.3), ("A10", 125, 31.2), ("T4", 65, 8.1), ("V100", 125, 15.7)]


def make_pairs(n: int, vocab_size: int, seed: int) -> list[dict]:
    """Token pairs `[CLS] premise [SEP] hypothesis [SEP]` with KLUE-like lengths, truncated to 64 like the course."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        a = max(1, round(rng.gauss(*PREMISE_TOKENS)))
        b = max(1, round(rng.gauss(*HYPOTHESIS_TOKENS)))
        while a + b + 3 > MAX_SEQ_LENGTH:  # longest_first truncation
            a, b = (a - 1, b) if a >= b else (a, b - 1)
        ids = [2] + [rng.randrange(5, vocab_size) for _ in range(a)] + [3] + [rng.randrange(5, vocab_size) for _ in range(b)] + [3]
        pairs.append({"input_ids": torch.tensor(ids), "token_type_ids": torch.tensor([0] * (a + 2) + [1] * (b + 1)),
                      "labels": torch.tensor(rng.randrange(3))})
    return pairs


def half_precision(device: torch.device) -> tuple[torch.dtype, bool]:
    """(autocast dtype, needs a GradScaler). bf16 from compute capability 8; fp16 + scaler on a T4 or V100.

    On the CPU smoke run bf16 is used only to exercise the autocast path.
    """
    if device.type == "cuda" and torch.cuda.get_device_capability(device) < (8, 0):
        return torch.float16, True
    return torch.bfloat16, False


def peak_tflops(device: torch.device, half: bool) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, half_peak, fp32_peak in PEAK_TFLOPS:
        if key in name:
            return half_peak if half else fp32_peak
    return None


def run_row(name: str, pairs: list[dict], shape: dict, device: torch.device, ours: bool, compile_model: bool,
            warmup: int, steps: int, seed: int) -> dict:
    """Train `warmup + steps` steps with one recipe; time the last `steps`."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    model = BertForSequenceClassification(BertConfig(**shape, num_labels=3)).to(device).train()
    non_embedding = sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)
    cuda = device.type == "cuda"
    if ours:
        dtype, scaled = half_precision(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, eps=1e-6, weight_decay=0.0, fused=True)
        loader = DataLoader(pairs, batch_size=BATCH_SIZE, collate_fn=PadCollator(0), pin_memory=cuda,
                            sampler=LengthGroupedSampler([len(p["input_ids"]) for p in pairs], BATCH_SIZE, seed))
    else:
        dtype, scaled = None, False
        optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, eps=1e-6, weight_decay=0.0, foreach=False)
        loader = DataLoader(pairs, batch_size=BATCH_SIZE, collate_fn=PadCollator(0, MAX_SEQ_LENGTH), shuffle=True)
    torch.backends.cuda.enable_cudnn_sdp(True)  # PyTorch's default, for the original row
    if ours and cuda:
        use_gpu_speedups(Runtime("gpu", torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0), False))
    scaler = torch.amp.GradScaler(device.type, enabled=scaled)
    forward = torch.compile(model, dynamic=True) if compile_model else model

    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    batches = iter(loader)
    real_tokens = 0
    for step in range(warmup + steps):
        if step == warmup:
            if cuda:
                torch.cuda.synchronize(device)
            start, real_tokens = time.perf_counter(), 0
        host_batch = next(batches)
        real_tokens += int(host_batch["attention_mask"].sum())  # counted on the host: no GPU sync
        batch = {k: v.to(device, non_blocking=ours) for k, v in host_batch.items()}
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = forward(**batch).loss
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start

    peak = peak_tflops(device, dtype is not None)
    samples_per_s = steps * BATCH_SIZE / seconds
    return {
        "row": name,
        "samples_per_s": samples_per_s,
        "ms_per_step": 1000 * seconds / steps,
        "mfu": 6 * non_embedding * real_tokens / seconds / (peak * 1e12) if peak else None,
        "peak_memory_gb": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
        "course_run_min": EPOCHS * TRAIN_PAIRS / samples_per_s / 60,
        "precision": str(dtype).replace("torch.", "") + (" + GradScaler" if scaled else "") if dtype else "float32",
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny model, a few steps, on the CPU")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per row (after the warm-up)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    if args.cpu_smoke:
        device, shape, warmup, steps = torch.device("cpu"), TINY, 2, 3
    elif torch.cuda.is_available():
        device, shape, warmup, steps = torch.device("cuda"), KCBERT_BASE, 10, args.steps
    else:
        sys.exit("no CUDA GPU here: run with --cpu-smoke to check the code path on the CPU")
    started = time.perf_counter()
    pairs = make_pairs(TRAIN_PAIRS, shape["vocab_size"], args.seed)
    rows = [("original (pad 64, fp32, AdamW)", False, False), ("ours (dynamic, grouped, mixed, fused)", True, False)]
    if not args.no_compile:
        # Compiling takes most of a minute; its warm-up steps absorb it (and a recompile for the dynamic length).
        rows.append(("ours + torch.compile", True, True))
    results = [run_row(name, pairs, shape, device, ours, compiled, warmup * (3 if compiled else 1), steps, args.seed)
               for name, ours, compiled in rows]

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke run, tiny model)"
    print(f"{device_name}, torch {torch.__version__}, batch {BATCH_SIZE}, {steps} timed steps per row")
    print(f"{'row':<40}{'samples/s':>10}{'ms/step':>9}{'MFU':>7}{'peak mem':>10}{'5-epoch run':>13}  precision")
    for r in results:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        memory = f"{r['peak_memory_gb']:.2f} GB" if r["peak_memory_gb"] is not None else "n/a"
        print(f"{r['row']:<40}{r['samples_per_s']:>10.1f}{r['ms_per_step']:>9.1f}{mfu:>7}{memory:>10}"
              f"{r['course_run_min']:>9.1f} min  {r['precision']}")
    base = results[0]["samples_per_s"]
    print("speed-up over original: " + ", ".join(f"{r['row'].split(' (')[0]} {r['samples_per_s'] / base:.2f}x" for r in results[1:]))
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
