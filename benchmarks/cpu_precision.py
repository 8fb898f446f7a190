"""Which Lightning precision trains fastest on this CPU? (runtime.choose_precision uses the answer.)

Trains the same small BERT for the same batches under "32-true" and
"bf16-mixed" and prints samples/s for each and their ratio. bf16 is only
fast on CPUs with native bf16 units (AMX, AVX512-BF16); elsewhere it is
emulated.

    python benchmarks/cpu_precision.py [--steps 30]
"""

import argparse
import time

import pytorch_lightning as pl
import torch
from transformers import BertConfig, BertForSequenceClassification

from nlpbook_helpers.task import NliTask


def batches(steps, batch_size=32, length=48, vocab=8000):
    generator = torch.Generator().manual_seed(0)
    return [
        {"input_ids": torch.randint(5, vocab, (batch_size, length), generator=generator),
         "attention_mask": torch.ones(batch_size, length, dtype=torch.long),
         "labels": torch.randint(0, 3, (batch_size,), generator=generator)}
        for _ in range(steps)
    ]


def samples_per_second(precision, data):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=8000, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=1024, num_labels=3)
    task = NliTask(BertForSequenceClassification(config), 5e-5, "faithful")
    trainer = pl.Trainer(accelerator="cpu", precision=precision, max_steps=len(data), logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    start = time.perf_counter()
    trainer.fit(task, torch.utils.data.DataLoader(data, batch_size=None))
    return len(data) * len(data[0]["labels"]) / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    data = batches(parser.parse_args().steps)
    fp32 = samples_per_second("32-true", data)
    bf16 = samples_per_second("bf16-mixed", data)
    print(f"{'precision':<12}{'samples/s':>10}")
    print(f"{'32-true':<12}{fp32:>10.1f}")
    print(f"{'bf16-mixed':<12}{bf16:>10.1f}")
    print(f"bf16-mixed / 32-true: {bf16 / fp32:.2f}x   (torch {torch.__version__}, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
