"""The command line: train, evaluate, predict, download, serve, push.

    python -m nlpbook_helpers train --sample
    python -m nlpbook_helpers evaluate --model-dir DIR --data-dir DIR
    python -m nlpbook_helpers predict --model-dir DIR "전제 문장" "가설 문장"
    python -m nlpbook_helpers download --data-dir DIR
    python -m nlpbook_helpers serve --model-dir DIR [--port N]
    python -m nlpbook_helpers push --model-dir DIR --repo-id NAME [--private] [--space]

`--corpus kornli` (train, evaluate, download) switches from KLUE-NLI to KorNLI.

Every subcommand calls the same functions as the notebooks. A problem the
user can fix ends with one line on stderr and exit code 2, no traceback.
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

from .errors import NlpbookError
from .library_errors import explain_library_error


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        args.command(args)
    except NlpbookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # a library broke under us: say which one and what to pin, under its traceback
        explain_library_error(error)
        raise
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m nlpbook_helpers", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(required=True, metavar="COMMAND")

    train = commands.add_parser("train", parents=[settings_flags()],
                                help="fine-tune on KLUE-NLI (or the bundled sample) and keep the best model")
    train.set_defaults(command=run_train)
    train.add_argument("--sample", action="store_true", help="offline: the bundled sample corpus and a tiny model")

    evaluate = commands.add_parser("evaluate", help="accuracy, per-class F1 and confusion matrix on KLUE-NLI dev "
                                                    "(or KorNLI's XNLI test)")
    evaluate.set_defaults(command=run_evaluate)
    evaluate.add_argument("--model-dir", required=True)
    evaluate.add_argument("--data-dir", required=True, help="as for train: the KLUE-NLI folder, or Korpora's root")
    add_corpus_flag(evaluate)
    evaluate.add_argument("--output", help="also write the results as JSON to this file")

    predict = commands.add_parser("predict", help="label a premise/hypothesis pair, or a JSONL file of pairs")
    predict.set_defaults(command=run_predict)
    predict.add_argument("--model-dir", required=True)
    predict.add_argument("pair", nargs="*", metavar="TEXT", help="PREMISE HYPOTHESIS")
    predict.add_argument("--input", help='JSONL file, one {"premise": ..., "hypothesis": ...} a line')
    predict.add_argument("--json", action="store_true", help="machine-readable output, one JSON object a line")

    download = commands.add_parser("download", help="fetch and verify a corpus only")
    download.set_defaults(command=run_download)
    download.add_argument("--data-dir", help="default: nlpbook-work/klue-nli, or nlpbook-work/korpora for kornli "
                                             "(the files then go to its kornli/ folder)")
    download.add_argument("--base-url", help="a folder holding the same file names (a mirror of the KLUE or "
                                             "KorNLI GitHub folder)")
    add_corpus_flag(download)

    serve = commands.add_parser("serve", help="the model as a web page and a JSON API on 127.0.0.1 (Ctrl+C stops it)")
    serve.set_defaults(command=run_serve)
    serve.add_argument("--model-dir", required=True)
    serve.add_argument("--port", type=int, help="default: 8000, or the next port up that is free")

    push = commands.add_parser("push", help="upload the model and its card to the Hugging Face Hub (and a demo Space)")
    push.set_defaults(command=run_push)
    push.add_argument("--model-dir", required=True)
    push.add_argument("--repo-id", required=True, help="NAME or USER/NAME on the Hub")
    push.add_argument("--private", action="store_true")
    push.add_argument("--space", action="store_true", help="also create a Gradio Space that serves the model")
    return top


def add_corpus_flag(command: argparse.ArgumentParser) -> None:
    """--corpus for the subcommands not generated from Settings, with the same choices and default."""
    from .settings import choices, default

    command.add_argument("--corpus", choices=choices("corpus"), default=default("corpus"),
                         help=f"default: {default('corpus')}")


def settings_flags() -> argparse.ArgumentParser:
    """The `train` flags, generated from the Settings dataclass: its field names, types, choices and help.

    A flag not given is left out of the parsed arguments, so the settings'
    own defaults (or the sample's, with --sample) apply.
    """
    from transformers import HfArgumentParser

    from .settings import Settings

    flags = HfArgumentParser(Settings, add_help=False)
    for action in flags._actions:
        action.help = f"{action.help} (default: {action.default!r})"
        action.default = argparse.SUPPRESS
    return flags


def run_train(args):
    from .pipeline import train
    from .runtime import resolve_work_dir
    from .sample import sample_settings
    from .settings import Settings

    given = {name: value for name, value in vars(args).items() if name not in ("command", "sample")}
    work_dir = given.pop("work_dir", None) or resolve_work_dir()
    settings = sample_settings(work_dir, **given) if args.sample else Settings(work_dir=str(work_dir), **given)
    summary = train(settings)
    best = next(row for row in summary["epochs"] if row["epoch"] == summary["best_epoch"])
    print(f"best epoch {best['epoch']}: val_acc {best['val_acc']:.4f}, macro_f1 {best['macro_f1']:.4f}")
    print(f"model: {Path(settings.output_dir) / 'best'}")


def run_evaluate(args):
    from .inference import Predictor, evaluate

    examples = evaluation_examples(args.corpus, args.data_dir)  # a missing file is reported before loading a model
    results = evaluate(Predictor(args.model_dir), examples)
    print(f"accuracy {results['accuracy']:.4f}   macro F1 {results['macro_f1']:.4f}")
    for name, scores in results["per_class"].items():
        print(f"  {name:<13} precision {scores['precision']:.4f}  recall {scores['recall']:.4f}  f1 {scores['f1']:.4f}")
    print("confusion matrix (rows: gold, columns: predicted; " + ", ".join(results["labels"]) + ")")
    for row in results["confusion_matrix"]:
        print("  " + " ".join(f"{n:6d}" for n in row))
    if args.output:
        Path(args.output).write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


def run_predict(args):
    from .inference import Predictor

    pairs = read_pairs(args)
    predictor = Predictor(args.model_dir)
    for (premise, hypothesis), prediction in zip(pairs, predictor.predict_batch(pairs)):
        if args.json:
            print(json.dumps({"premise": premise, "hypothesis": hypothesis, "label": prediction.label,
                              "label_ko": prediction.label_ko, "probabilities": prediction.probabilities},
                             ensure_ascii=False))
        else:
            probabilities = "  ".join(f"{name} {p:.3f}" for name, p in prediction.probabilities.items())
            print(f"{prediction.label} ({prediction.label_ko})  {probabilities}")


def read_pairs(args) -> list:
    if args.input and args.pair:
        raise NlpbookError("문장 쌍과 --input을 함께 줄 수 없습니다.", "Give either PREMISE HYPOTHESIS or --input, not both.")
    if not args.input:
        if len(args.pair) != 2:
            raise NlpbookError(
                f"전제와 가설, 두 문장이 필요합니다({len(args.pair)}개를 받았습니다). 따옴표로 감싸 주세요.",
                f"Expected two texts, PREMISE and HYPOTHESIS, got {len(args.pair)}; quote each sentence.",
            )
        return [tuple(args.pair)]
    if not Path(args.input).is_file():
        raise NlpbookError(f"입력 파일이 없습니다: {args.input}", f"The input file {args.input} does not exist.")
    pairs = []
    with open(args.input, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                pairs.append((record["premise"], record["hypothesis"]))
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise NlpbookError(
                    f"{args.input}의 {number}번째 줄: {{\"premise\": ..., \"hypothesis\": ...}} 형식이 아닙니다.",
                    f"{args.input}, line {number}: expected {{\"premise\": ..., \"hypothesis\": ...}} ({type(error).__name__}).",
                ) from error
    return pairs


def evaluation_examples(corpus: str, data_dir: str) -> list:
    """KLUE-NLI: its dev split (its test labels are not public). KorNLI: XNLI test, 5,010 pairs."""
    if corpus == "kornli":
        from .kornli import TEST, load_kornli

        return load_kornli(data_dir, TEST)
    from .corpus import SPLITS, read_klue_nli

    dev = Path(data_dir) / SPLITS["dev"].filename
    if not dev.is_file():
        download = f"python -m nlpbook_helpers download --data-dir {shlex.quote(data_dir)}"
        raise NlpbookError(
            f"{data_dir}에 검증(dev) 파일 {dev.name}이(가) 없습니다. 다음 명령으로 내려받으세요: {download}",
            f"{data_dir} has no {dev.name}, the dev split that evaluate scores: get it with {download}",
        )
    return read_klue_nli(dev)


def run_download(args):
    from .settings import DEFAULT_DATA_DIRS

    data_dir = args.data_dir or str(Path("nlpbook-work") / DEFAULT_DATA_DIRS[args.corpus])
    if args.corpus == "kornli":
        from .kornli import KORNLI_BASE_URL, download_kornli

        paths = download_kornli(data_dir, args.base_url or KORNLI_BASE_URL)
    else:
        from .corpus import KLUE_BASE_URL, download_klue_nli

        paths = download_klue_nli(data_dir, args.base_url or KLUE_BASE_URL)
    for split, path in paths.items():
        print(f"{split}: {path}")


def run_serve(args):
    from .serve import serve_forever

    serve_forever(args.model_dir, args.port)


def run_push(args):
    from .share import push

    for url in push(args.model_dir, args.repo_id, private=args.private, space=args.space):
        print(url)
