"""The original course pipeline, driven the way the pair-classification chapter drives it.

Runs under the Python 3.7 environment that benchmarks/vs_original.py installs
(ratsnlp 1.0.1, pytorch-lightning 1.3.4, transformers 4.10), so it is written
for Python 3.7. It reads the plan vs_original.py wrote and prints its figures
as one JSON line.

Where it departs from the chapter, and why:
- the model is the benchmark's random-init BERT (no network), in transformers
  4.10's own format, starting from the same weights as our side;
- the feature cache is overwritten, so the tokenization is really timed;
- the loaders may take only the first examples of each split (--quick);
- tpu_cores=0: the chapter's `0 if cuda else 8` asks a CPU for 8 TPU cores;
- a callback records the time of every training batch.
Everything else (the classes, the collator, the loaders, the task with its
never-stepped scheduler, get_trainer's Trainer) is ratsnlp's own.
"""

import gc
import json
import resource
import os
import shutil
import sys
import time


def save_initial_model(plan, model_dir):
    """Write the shared initial weights as a transformers 4.10 model folder with the shared vocab.txt."""
    import numpy as np
    import torch
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(**plan["model_config"]))
    weights = np.load(plan["weights_file"])
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(weights[k]) for k in weights.files}, strict=False)
    # transformers 4.10 also keeps the constant position_ids buffer in the state dict; 5 does not.
    if unexpected or set(missing) - {"embeddings.position_ids"}:
        raise RuntimeError("weights do not fit transformers 4.10's BERT: missing %s, unexpected %s" % (missing, unexpected))
    model.save_pretrained(model_dir)
    shutil.copy(plan["vocab_file"], os.path.join(model_dir, "vocab.txt"))


def main(plan_file):
    with open(plan_file) as f:
        plan = json.load(f)
    import torch
    from ratsnlp import nlpbook
    from ratsnlp.nlpbook.classification import ClassificationDataset, ClassificationTask, ClassificationTrainArguments
    from ratsnlp.nlpbook.paircls import KlueNLICorpus
    from torch.utils.data import DataLoader, RandomSampler, SequentialSampler, Subset
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    from batch_clock import BatchClock, Turns, files_mb, peak_rss_mb, report

    torch.set_num_threads(plan["threads"])
    model_dir = os.path.join(plan["work_dir"], "model-original-" + plan["shape"])
    save_initial_model(plan, model_dir)

    # code 3-3 .. 3-5
    args = ClassificationTrainArguments(
        pretrained_model_name=model_dir,
        downstream_task_name="pair-classification",
        downstream_corpus_name="klue-nli",
        downstream_corpus_root_dir=plan["corpus_root"],
        downstream_model_dir=plan["output_dir"],
        batch_size=plan["batch_size"],
        learning_rate=plan["learning_rate"],
        max_seq_length=plan["max_seq_length"],
        epochs=plan["epochs"],
        tpu_cores=0,
        seed=plan["seed"],
        overwrite_cache=True,
    )
    nlpbook.set_seed(args)
    nlpbook.set_logger(args)

    # code 3-7, 3-8, 3-10: tokenizer, then features for train and dev (written to ratsnlp's cache, as on a first run)
    gc.collect()  # what the imports and the model left for the collector is not the tokenization's to pay
    start = time.perf_counter()
    tokenizer = BertTokenizer.from_pretrained(args.pretrained_model_name, do_lower_case=False)
    corpus = KlueNLICorpus()
    train_dataset = ClassificationDataset(args=args, corpus=corpus, tokenizer=tokenizer, mode="train")
    val_dataset = ClassificationDataset(args=args, corpus=corpus, tokenizer=tokenizer, mode="test")
    tokenize_s = time.perf_counter() - start

    # code 3-9, 3-10: the loaders
    train_dataset = Subset(train_dataset, range(plan["train_pairs"]))
    val_dataset = Subset(val_dataset, range(plan["val_pairs"]))
    train_dataloader = DataLoader(
        train_dataset,
        batch_size=args.batch_size,
        sampler=RandomSampler(train_dataset, replacement=False),
        collate_fn=nlpbook.data_collator,
        drop_last=False,
        num_workers=args.cpu_workers,
    )
    val_dataloader = DataLoader(
        val_dataset,
        batch_size=args.batch_size,
        sampler=SequentialSampler(val_dataset),
        collate_fn=nlpbook.data_collator,
        drop_last=False,
        num_workers=args.cpu_workers,
    )

    # code 3-11 .. 3-14
    config = BertConfig.from_pretrained(args.pretrained_model_name, num_labels=corpus.num_labels)
    model = BertForSequenceClassification.from_pretrained(args.pretrained_model_name, config=config)
    task = ClassificationTask(model, args)
    trainer = nlpbook.get_trainer(args)
    clock = BatchClock(plan["warmup_batches"], Turns.from_plan(plan))
    trainer.callbacks.append(clock)
    trainer.fit(task, train_dataloader=train_dataloader, val_dataloaders=val_dataloader)

    checkpoints = [os.path.join(args.downstream_model_dir, f) for f in os.listdir(args.downstream_model_dir)
                   if f.endswith(".ckpt")]
    figures = clock.summary()
    figures.update({
        "stack": "ratsnlp 1.0.1, pytorch-lightning 1.3.4, transformers 4.10.0, torch %s, Python %d.%d"
                 % (torch.__version__, sys.version_info[0], sys.version_info[1]),
        "tokenize_s": tokenize_s,
        "val_acc": float(trainer.callback_metrics["val_acc"]),
        "checkpoint_mb": files_mb(checkpoints),
        "checkpoint_files": sorted(os.path.basename(c) for c in checkpoints),
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_worker_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
        "dataloader_workers": args.cpu_workers,
    })
    report(figures)


if __name__ == "__main__":
    main(sys.argv[1])
