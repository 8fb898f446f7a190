"""The command line: train, evaluate, predict, download, serve, push (`python -m nlpbook_helpers COMMAND --help`).

Each calls what the notebooks call. A mistake the user can fix: one `error:` line on stderr, exit code 2, no traceback.
"""

import argparse
import dataclasses
import itertools
import json
import os
import re
import sys
import warnings
from pathlib import Path

from .support.drive_files import write_json
from .support.errors import NlpbookError

CLUSTER_VARIABLES = ("MASTER_ADDR", "SLURM_NTASKS", "TORCHELASTIC_RUN_ID")  # set where a second machine takes part
PAIR_LINE = '{"premise": ..., "hypothesis": ...}'  # a line of predict's --input
LINE_BREAKS = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")  # control characters, and what splitlines() breaks at
PREDICT_CHUNK = 1024  # pairs labelled, then printed, at a time: memory stays flat however long the file
PROGRESS_FROM = 2 * PREDICT_CHUNK  # fewer pairs take a few seconds: no bar


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser(sample="--sample" in argv, train_flags="train" in argv).parse_args(argv)
    try:
        args.command(args)
    except NlpbookError as error:
        print_error(error)
        return 2
    except BrokenPipeError:  # the reader left (`predict --input ... | head`): stop quietly, as command-line tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's flush at exit then cannot fail
        return 0
    except Exception as error:  # a library broke under us: say which one and what to pin, under its traceback
        from .support.library_errors import explain_library_error
        explain_library_error(error)
        raise
    return 0


def print_error(error) -> None:
    """The one `error:` line, on a line of its own: an open progress bar (Lightning's) closed, line breaks as \\n."""
    for bar in list(sys.modules["tqdm"].tqdm._instances) if "tqdm" in sys.modules else []:
        bar.close()
    sys.stdout.flush()
    print(LINE_BREAKS.sub(lambda found: repr(found.group())[1:-1], f"error: {error}"), file=sys.stderr)


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a mistyped argument reported like every other mistake: one `error:` line, exit code 2."""

    def error(self, message):
        print_error(NlpbookError(f"명령줄 인자가 잘못되었습니다: {message}. `{self.prog} --help`로 쓰는 법을 보세요.",
                                 f"Invalid arguments: {message}. See `{self.prog} --help`."))
        self.exit(2)


def parser(sample: bool = False, train_flags: bool = True) -> argparse.ArgumentParser:
    """sample=True: `train --help` shows the sample's defaults. train_flags=False: no HfArgumentParser (slow import)."""
    from .settings import Settings, default
    helps = {field.name: field.metadata["help"] for field in dataclasses.fields(Settings)}
    model_dir, switch = ("--model-dir", dict(required=True)), dict(action="store_true")
    corpus = [("--corpus", dict(default=default("corpus"), help=helps["corpus"])),  # as train's, from Settings
              ("--data-dir", dict(help="as for train: " + helps["data_dir"]))]
    commands = {  # name: (function, help, its arguments)
        "train": (run_train, "fine-tune on KLUE-NLI (or the bundled sample) and keep the best model",
                  [("--sample", dict(switch, help="offline: the bundled sample corpus and a tiny model"))]),
        "evaluate": (run_evaluate, "accuracy, per-class F1 and confusion matrix on KLUE-NLI dev (or KorNLI's XNLI "
                     "test)", [model_dir, *corpus, ("--output", dict(help="also write the results as JSON here"))]),
        "predict": (run_predict, "label a premise/hypothesis pair, or a JSONL file of pairs", [
            model_dir, ("pair", dict(nargs="*", metavar="TEXT", help="PREMISE HYPOTHESIS")),
            ("--input", dict(help=f"JSONL file, one {PAIR_LINE} a line")),
            ("--json", dict(switch, help="machine-readable output, one JSON object a line"))]),
        "download": (run_download, "fetch and verify a corpus only", [
            *corpus, ("--base-url", dict(help="a folder holding the same file names (a mirror of the corpus's own)"))]),
        "serve": (run_serve, "the model as a web page and a JSON API on 127.0.0.1 (Ctrl+C stops it)", [
            model_dir, ("--port", dict(type=int, help="default: 8000, or the next port up that is free"))]),
        "push": (run_push, "upload the model and its card to the Hugging Face Hub (and a demo Space)", [
            model_dir, ("--repo-id", dict(required=True, help="NAME or USER/NAME on the Hub")), ("--private", switch),
            ("--space", dict(switch, help="also create a Gradio Space that serves the model"))]),
    }
    top = OneLineParser(prog="python -m nlpbook_helpers", description=__doc__.split("\n\n")[0])
    subparsers = top.add_subparsers(required=True, metavar="COMMAND")
    for name, (run, help, arguments) in commands.items():
        parents = [settings_flags(sample)] if name == "train" and train_flags else []
        command = subparsers.add_parser(name, help=help, parents=parents)
        command.set_defaults(command=run)
        for flag, options in arguments:
            command.add_argument(flag, **options)
    return top


def settings_flags(sample: bool = False) -> argparse.ArgumentParser:
    """The `train` flags, generated from the Settings fields; one not given is left out (SUPPRESS): defaults apply."""
    from transformers import HfArgumentParser
    from .sample import SAMPLE_VALUES
    from .settings import Settings
    shown = {field.name: field.default for field in dataclasses.fields(Settings)}
    if sample:
        shown.update(SAMPLE_VALUES, model_name="WORK_DIR/tiny-bert", data_dir="the bundled sample")
    flags = dataclasses.make_dataclass("TrainFlags", [
        (field.name, field.type, dataclasses.field(default=argparse.SUPPRESS, metadata={
            **field.metadata, "help": f"{field.metadata['help']} (default: {shown[field.name]!r})"}))
        for field in dataclasses.fields(Settings)])
    return HfArgumentParser(flags, add_help=False)


def run_train(args):
    from .pipeline import train
    from .run.best_model import metrics_best
    from .run.sampling import process_rank
    from .runtime import check_writable, resolve_work_dir
    from .sample import sample_settings
    from .settings import Settings
    from .support.quiet import quiet_libraries
    quiet_libraries()  # before the sample's tiny model is written, see support/quiet.py
    given = {name: value for name, value in vars(args).items() if name not in ("command", "sample")}
    work_dir = Path(given.pop("work_dir", None) or resolve_work_dir())
    check_writable(work_dir)
    settings = sample_settings(work_dir, **given) if args.sample else Settings(work_dir=str(work_dir), **given)
    check_writable(Path(settings.output_dir), "출력 폴더", "the output dir")
    if settings.num_nodes > 1 and not any(os.environ.get(name) for name in CLUSTER_VARIABLES):  # it would wait forever
        nodes, cluster = f"num_nodes={settings.num_nodes}", ", ".join(CLUSTER_VARIABLES)
        raise NlpbookError(f"{nodes}: 클러스터 설정({cluster})이 없어 다른 컴퓨터를 영원히 기다립니다. 한 대라면 --num-nodes 1, "
                           "여러 대라면 torchrun이나 SLURM을 쓰세요.", f"{nodes}, but no cluster ({cluster}) says another "
                           "machine joins, so training would wait forever: use --num-nodes 1, or torchrun or SLURM.")
    summary = train(settings)
    if process_rank()[0] != 0:  # under DDP every process returns here; one summary is enough
        return
    best = metrics_best(summary)  # the row best/ holds, by step
    print(f"best epoch {best['epoch']}: val_acc {best['val_acc']:.4f}, macro_f1 {best['macro_f1']:.4f}")
    print(f"model: {Path(settings.output_dir) / 'best'}")


def run_evaluate(args):
    from .corpora import get_corpus
    from .inference import Predictor, evaluate
    from .runtime import check_writable
    output = Path(args.output) if args.output else None
    if output and output.is_dir():  # checked before an evaluation that may take minutes
        raise NlpbookError(f"--output {output}: 폴더입니다. 결과를 쓸 파일 이름(예: results.json)을 주세요.",
                           f"--output {output} is a folder: give a file name, such as results.json.")
    if output:
        check_writable(output.parent, "--output의 폴더", "--output's folder")
    examples = get_corpus(args.corpus).load(corpus_data_dir(args), "test")  # a missing file is reported first
    results = evaluate(Predictor(args.model_dir), examples)
    print(f"accuracy {results['accuracy']:.4f}   macro F1 {results['macro_f1']:.4f}")
    for name, scores in results["per_class"].items():
        print(f"  {name:<13} precision {scores['precision']:.4f}  recall {scores['recall']:.4f}  f1 {scores['f1']:.4f}")
    print("confusion matrix (rows: gold, columns: predicted; " + ", ".join(results["labels"]) + ")")
    for row in results["confusion_matrix"]:
        print("  " + " ".join(f"{n:6d}" for n in row))
    if output:
        write_json(output, results)


def corpus_data_dir(args) -> str:
    """--data-dir, or the folder train uses for that corpus in the work dir."""
    from .runtime import resolve_work_dir
    from .settings import Settings
    return args.data_dir or Settings(work_dir=str(resolve_work_dir()), corpus=args.corpus).data_dir


def run_predict(args):
    """The pair given, or every pair in --input: all checked before the model loads, then labelled a chunk at a time."""
    from tqdm.auto import tqdm
    from .inference import Predictor, check_pair
    if len(args.pair) != (0 if args.input else 2):
        raise NlpbookError(f"전제와 가설 두 문장(따옴표로 감싸서), 또는 --input만 주세요({len(args.pair)}개를 받았습니다).",
                           f"Expected two texts (PREMISE HYPOTHESIS, quoted) or --input alone, got {len(args.pair)}.")
    if not args.input:
        return print_predictions(args, Predictor(args.model_dir), [tuple(args.pair)])
    total = 0
    for total, pair in enumerate(input_pairs(args.input), start=1):
        check_pair(pair, total - 1)  # an empty or non-text field is refused now, naming its pair, not after hours
    if not total:
        raise NlpbookError(f"{args.input}: 문장 쌍이 하나도 없습니다. 한 줄에 {PAIR_LINE} 하나씩 쓰세요.",
                           f"{args.input} holds no pairs: write one {PAIR_LINE} a line.")
    predictor, pairs = Predictor(args.model_dir), input_pairs(args.input)
    with tqdm(total=total, unit="pair", file=sys.stderr, leave=False, disable=total < PROGRESS_FROM) as bar, \
            warnings.catch_warnings():
        # a text cut to MAX_CHARS was warned about above, with its number; predict_batch would warn again per chunk
        warnings.filterwarnings("ignore", r"pair \d+: the \w+ has \d+ characters", UserWarning)
        while chunk := list(itertools.islice(pairs, PREDICT_CHUNK)):
            print_predictions(args, predictor, chunk)
            bar.update(len(chunk))


def print_predictions(args, predictor, pairs: list) -> None:
    for (premise, hypothesis), prediction in zip(pairs, predictor.predict_batch(pairs)):
        scores = "  ".join(f"{name} {p:.3f}" for name, p in prediction.probabilities.items())
        print(json.dumps({"premise": premise, "hypothesis": hypothesis, **dataclasses.asdict(prediction)},
                         ensure_ascii=False) if args.json else f"{prediction.label} ({prediction.label_ko})  {scores}")
    sys.stdout.flush()


def input_pairs(path: str):
    """A JSONL file's (premise, hypothesis) pairs, lazily; a bad line is refused by number. utf-8-sig: Notepad's BOM."""
    if not Path(path).is_file():
        raise NlpbookError(f"입력 파일이 없습니다: {path}", f"The input file {path} does not exist.")
    try:
        with open(path, encoding="utf-8-sig", newline="\n") as file:
            for number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                try:
                    yield tuple(json.loads(line)[key] for key in ("premise", "hypothesis"))
                except (ValueError, KeyError, TypeError, RecursionError) as error:
                    raise NlpbookError(f"{path}의 {number}번째 줄: {PAIR_LINE} 형식이 아닙니다.", f"{path}, line "
                                       f"{number}: expected {PAIR_LINE} ({type(error).__name__}).") from None
    except UnicodeDecodeError:
        raise NlpbookError(f"{path}: UTF-8 파일이 아닙니다(cp949로 저장했나요?). UTF-8로 다시 저장하세요.",
                           f"{path} is not UTF-8 (saved as cp949?): save it again as UTF-8.") from None


def run_download(args):
    from .corpora import get_corpus
    from .support.download import download
    for name, path in download(get_corpus(args.corpus), corpus_data_dir(args), args.base_url).items():
        print(f"{name}: {path}")


def run_serve(args):
    from .sharing.serve import serve_forever
    serve_forever(args.model_dir, args.port)


def run_push(args):
    from .sharing.share import push
    for url in push(args.model_dir, args.repo_id, private=args.private, space=args.space):
        print(url)
