"""The TPU code path without a TPU, and the evidence behind the TPU's precision.

scripts/check_xla.sh runs this with Colab TPU's torch 2.9.0 and torch_xla 2.9.0
and PJRT_DEVICE=CPU, which gives XLA one device on the CPU. Every run trains the
course pipeline in smoke mode (the bundled sample, the tiny model) through
Lightning's TPU accelerator, with the TPU's fixed-length batches:

1. At the course's learning rate (5e-5, constant, as in the book), 32-true
   and bf16-true side by side: the share of parameters each changes, and
   whether LayerNorm weights change. In bf16 a step of 5e-5 to a weight near
   1.0 is below the spacing of representable numbers there (2^-7 = 0.0078)
   and rounds away. The precision `choose_precision` gives a TPU must change
   every weight 32-true changes.
2. At the sample's learning rate (constant), in that precision: the loss must
   go down, every batch must be padded to max_seq_length, and every weight the same
   run changes on the plain CPU in fp32 must change here too.

The runs are pipeline.prepare_run with the XLA runtime given (detect_runtime
finds no TPU on a CPU), trained by pipeline.fit. Lightning finds a TPU by counting
TPU chips on the PCI bus; XLA's CPU device stands in for the one chip of a v5e-1. Each run is a process of its own, as
Lightning's bf16-true on XLA is the environment variable XLA_USE_BF16.

    python scripts/check_xla.py WORK_DIR
"""

import json
import subprocess
import sys
import time

SAMPLE_STEPS = 69  # three epochs of the sample: the tiny model learns in the third; last.ckpt and best/ are written too
COURSE_STEPS = 20
COURSE_LR = 5e-5


def train_once(device: str, precision: str, learning_rate: float | None, steps: int, schedule: str, work_dir: str) -> dict:
    """Train in this process and return what changed: losses, batch shapes, changed elements per parameter."""
    import torch
    from pytorch_lightning.callbacks import Callback

    from nlpbook_helpers.pipeline import fit, prepare_run
    from nlpbook_helpers.runtime import Runtime, detect_runtime
    from nlpbook_helpers.sample import sample_settings

    if device == "xla":
        from torch_xla._internal import tpu

        tpu.num_available_devices = lambda: 1  # XLA's CPU device stands in for the TPU chip Lightning looks for
        runtime = Runtime("tpu", "XLA device on the CPU", None, False)
    else:
        runtime = detect_runtime("cpu")

    class Record(Callback):
        def __init__(self):
            self.losses, self.shapes = [], set()

        def on_train_start(self, trainer, pl_module):  # the weights as the device holds them, before any step
            self.start = {name: p.detach().cpu().clone() for name, p in pl_module.model.named_parameters()}
            self.stored_as_bf16 = all(torch.equal(p, p.to(torch.bfloat16).float()) for p in self.start.values())

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.shapes.add(tuple(batch["input_ids"].shape))

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.losses.append(float(outputs["loss"]))

        def on_train_end(self, trainer, pl_module):
            self.changed = {name: [int((p.detach().cpu() != self.start[name]).sum()), p.numel()]
                            for name, p in pl_module.model.named_parameters()}

    overrides = dict(max_steps=steps, schedule=schedule, precision=precision, learning_rate=learning_rate,
                     output_dir=f"{work_dir}/runs/{device}-{precision}-{learning_rate}")
    settings = sample_settings(work_dir, **overrides)
    run, record = prepare_run(settings, runtime), Record()  # the XLA runtime that detect_runtime would not find on a CPU
    fit(run, callbacks=[record])
    trainer = run.trainer
    compiles = {}
    if device == "xla":
        import torch_xla.debug.metrics as metrics

        count, total_ns, _ = metrics.metric_data("CompileTime") or (0, 0, None)
        compiles = {"compiles": count, "compile_s": round(total_ns / 1e9, 1)}
    return {**compiles, "device": str(trainer.strategy.root_device), "steps": trainer.global_step, "losses": record.losses,
            "shapes": sorted(record.shapes), "stored_as_bf16": record.stored_as_bf16, "changed": record.changed,
            "max_seq_length": settings.max_seq_length, "learning_rate": settings.learning_rate}


def run(device, precision, learning_rate, steps, schedule, work_dir) -> dict:
    args = [device, precision, str(learning_rate), str(steps), schedule, work_dir]
    started = time.monotonic()
    result = subprocess.run([sys.executable, __file__, "--one", *args], capture_output=True, text=True, timeout=1500)
    if result.returncode:
        sys.exit(f"{device} {precision} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return {"name": f"{device} {precision}", "seconds": round(time.monotonic() - started),
            **json.loads(result.stdout.splitlines()[-1])}


def changed_tensors(result) -> set[str]:
    return {name for name, (changed, _) in result["changed"].items() if changed}


def summary(result) -> str:
    counts = result["changed"].values()
    share = sum(changed for changed, _ in counts) / sum(numel for _, numel in counts)
    norms = {name: value for name, value in result["changed"].items() if "LayerNorm.weight" in name}
    norm_share = sum(changed for changed, _ in norms.values()) / sum(numel for _, numel in norms.values())
    losses = result["losses"]
    return (f"{result['name']:<15} {result['device']:<6} {result['learning_rate']:<7g} {result['steps']:>5} "
            f"{'yes' if result['stored_as_bf16'] else 'no':>8}  {sum(losses[:5]) / 5:.4f} -> {sum(losses[-5:]) / 5:.4f}  "
            f"{share:>14.1%}  {norm_share:>10.1%} ({sum(1 for c, _ in norms.values() if c)} of {len(norms)} tensors)"
            f"  {result['seconds']} s" + (f", {result['compiles']} XLA compilations ({result['compile_s']} s)" if "compiles" in result else ""))


def main(work_dir: str) -> None:
    import torch
    import torch_xla

    from nlpbook_helpers.runtime import Runtime, choose_precision

    tpu_precision, why = choose_precision(Runtime("tpu", "TPU", None, True))
    print(f"torch {torch.__version__}, torch_xla {torch_xla.__version__}, XLA device {torch_xla.device()}")
    print(f"precision for a TPU: {tpu_precision} ({why})")
    print(f"{'run':<15} {'device':<6} {'lr':<7} {'steps':>5} {'bf16 weights':>8}  loss first 5 -> last 5  "
          f"params changed  LayerNorm weights changed")
    failures = []
    course = {precision: run("xla", precision, COURSE_LR, COURSE_STEPS, "faithful", work_dir)
              for precision in ("32-true", "bf16-true")}
    for result in course.values():
        print(summary(result))
    missed = sorted(changed_tensors(course["32-true"]) - changed_tensors(course[tpu_precision]))
    if missed:
        failures.append(f"{tpu_precision} at lr {COURSE_LR:g} left unchanged what 32-true changes: {missed}")

    reference = run("cpu", "32-true", None, SAMPLE_STEPS, "faithful", work_dir)
    print(summary(reference))
    result = run("xla", tpu_precision, None, SAMPLE_STEPS, "faithful", work_dir)
    print(summary(result))
    missed = sorted(changed_tensors(reference) - changed_tensors(result))
    if missed:
        failures.append(f"{result['name']} left unchanged what fp32 on the CPU changes: {missed}")
    losses = result["losses"]
    if not sum(losses[-5:]) < sum(losses[:5]):
        failures.append(f"{result['name']}: the loss did not go down: {losses}")
    if {length for _, length in result["shapes"]} != {result["max_seq_length"]}:
        failures.append(f"{result['name']}: batches not padded to max_seq_length: {result['shapes']}")
    if failures:
        sys.exit("XLA check failed:\n" + "\n".join(failures))
    print(f"batch shapes of the last run: {result['shapes']} (a shorter last batch is compiled once more)")
    print("XLA check passed")


if __name__ == "__main__":
    if sys.argv[1] == "--one":
        device, precision, learning_rate, steps, schedule, work_dir = sys.argv[2:]
        result = train_once(device, precision, None if learning_rate == "None" else float(learning_rate), int(steps),
                            schedule, work_dir)
        print(json.dumps(result))
    else:
        main(sys.argv[1])
