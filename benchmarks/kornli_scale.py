"""KorNLI at full size: how long reading, tokenizing and caching 942,854 pairs take, and how much memory.

    python benchmarks/kornli_scale.py [--work-dir DIR] [--json FILE]

Writes, once, a synthetic corpus with KorNLI's four file names, its TSV format
and its pair counts (392,702 + 550,152 train, 2,490 dev, 5,010 test). The
sentences come from workload.make_pair (premise ~45 characters, hypothesis
~25), and the tokenizer is workload's WordPiece (about 2 characters a token,
like kcbert on Korean) filled to kcbert's 30,000 entries. Nothing of KorNLI
itself is used.

Then three fresh processes, so each peak RSS is its own:
- pieces: Korpora's read and split plus our checks (`kornli.load_kornli`),
  then `features.encode_pairs` on the 942,854 training pairs;
- cold: `features.build_datasets` for corpus="kornli" with an empty feature
  cache (what the first `train --corpus kornli` pays), and the cache's size;
- warm: the same with the cache in place (every later run, every resume).
"""

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAMP = "kornli-scale-v1"


def write_corpus(root: Path) -> None:
    """The four files under root/kornli/, unless a finished earlier run left them."""
    from workload import make_pair

    from nlpbook_helpers.corpora.kornli import FILES, HEADER, kornli_dir

    folder = kornli_dir(root)
    if (folder / STAMP).exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    for name, split in FILES.items():
        rng = random.Random(name)
        with open(folder / split.filename, "w", encoding="utf-8") as out:
            out.write("\t".join(HEADER) + "\n")
            for _ in range(split.records):
                out.write("\t".join(make_pair(rng)) + "\n")
    (folder / STAMP).write_text("complete\n")


def write_tokenizer(work_dir: Path) -> Path:
    from transformers import BertTokenizerFast
    from workload import bert_wordpiece, make_pair, train_vocab

    folder = work_dir / "tokenizer"
    if not (folder / "tokenizer.json").exists():
        rng = random.Random("vocab")
        texts = [text for _ in range(25_000) for text in make_pair(rng)[:2]]
        BertTokenizerFast(tokenizer_object=bert_wordpiece(train_vocab(texts, 30_000)),
                          do_lower_case=False).save_pretrained(folder)
    return folder


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure(phase: str, work_dir: Path) -> dict:
    """One phase, in this (fresh) process."""
    from transformers import AutoTokenizer

    from nlpbook_helpers.features import build_datasets, encode_pairs
    from nlpbook_helpers.corpora.kornli import DEV, TRAIN, load_kornli
    from nlpbook_helpers.settings import Settings

    # A tokenizer folder without a model, so not features.load_tokenizer (it asks for a model's weights too)
    tokenizer = AutoTokenizer.from_pretrained(str(work_dir / "tokenizer"), do_lower_case=False)
    settings = Settings(model_name=str(work_dir / "tokenizer"), corpus="kornli", work_dir=str(work_dir),
                        data_dir=str(work_dir / "korpora"))
    result = {"phase": phase, "rss_before_mb": round(peak_rss_mb())}
    start = time.perf_counter()
    if phase == "pieces":
        train, dev = load_kornli(settings.data_dir, TRAIN), load_kornli(settings.data_dir, DEV)
        result["read_parse_s"] = round(time.perf_counter() - start, 1)
        result["rss_after_parse_mb"] = round(peak_rss_mb())
        start = time.perf_counter()
        dataset = encode_pairs(tokenizer, train, settings.max_seq_length)
        result["tokenize_s"] = round(time.perf_counter() - start, 1)
        result["pairs"], result["dev_pairs"] = len(train), len(dev)
        result["tokens"] = int(dataset.offsets[-1])
        result["truncated_to_64"] = sum(length == settings.max_seq_length for length in dataset.lengths())
    else:
        train_set, dev_set = build_datasets(settings, tokenizer, token_types=True)
        result["build_datasets_s"] = round(time.perf_counter() - start, 1)
        result["pairs"], result["dev_pairs"] = len(train_set), len(dev_set)
        result["cache_mb"] = round(sum(f.stat().st_size for f in (work_dir / "cache").iterdir()) / 2**20, 1)
    result["peak_rss_mb"] = round(peak_rss_mb())
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=Path.home() / ".cache" / "nlpbook-bench" / "kornli-scale")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--phase", help=argparse.SUPPRESS)  # internal: run one phase in this process
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(measure(args.phase, args.work_dir)))
        return

    start = time.perf_counter()
    write_corpus(args.work_dir / "korpora")
    write_tokenizer(args.work_dir)
    print(f"corpus and tokenizer ready in {time.perf_counter() - start:.0f} s")
    for old in (args.work_dir / "cache").glob("*") if (args.work_dir / "cache").exists() else ():
        old.unlink()
    results = []
    for phase in ("pieces", "cold", "warm"):
        out = subprocess.run([sys.executable, __file__, "--phase", phase, "--work-dir", str(args.work_dir)],
                             capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"phase {phase} failed:\n{out.stderr[-3000:]}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
