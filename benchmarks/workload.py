"""The shared workload of the side-by-side benchmark: a synthetic KLUE-NLI corpus, one vocabulary, one BERT shape.

Why synthetic: the benchmark must run without network access and without
redistributing KLUE, yet both stacks have to see exactly the same bytes. The
corpus has KLUE-NLI's size (24,998 train, 3,000 dev pairs), its JSON format and
roughly its lengths (premise ~45 characters, hypothesis ~25).

Why learnable: a random-label corpus would make val_acc meaningless. Here the
label follows a rule a model has to learn from both sentences:
- the hypothesis mentions an object the premise does not -> neutral
  (a third of these are negated, so negation alone is not enough);
- otherwise it repeats one of the premise's actions, negated -> contradiction,
  or as stated -> entailment.
Chance is 33%; the negation cue alone reaches about 67%; 100% needs comparing
the hypothesis's object with the premise's.

Why one vocabulary but two model folders: transformers 4.10 cannot read the
safetensors that transformers 5 writes, so each stack saves the model in its
own format. Both start from the same weights: ours initialises the model and
also exports the weights as a NumPy archive that the original side loads.
"""

import hashlib
import json
import random
from pathlib import Path

import numpy as np

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0-4, as in kcbert's vocab.txt
TRAIN_PAIRS, DEV_PAIRS = 24_998, 3_000  # KLUE-NLI v1.1
# The corpus has few distinct words, so a large learned vocabulary would hold
# whole words and make pairs ~23 tokens long. kcbert splits KLUE text into
# about 2 characters per token; 450 learned pieces do the same here (a pair
# averages ~41 tokens, so padding to 64 wastes about a third, as with KLUE).
LEARNED_PIECES = 450

# The model shapes, as BertConfig keyword arguments. "small" trains on a 2-core
# CPU in minutes; "full" is kcbert-base, the model the course fine-tunes.
MODEL_SHAPES = {
    "small": dict(vocab_size=8000, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                  intermediate_size=1024, max_position_embeddings=300),
    "full": dict(vocab_size=30000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=300),
}

SUBJECTS = ["민수", "지영", "철수", "영희", "선생님", "우리 팀장", "옆집 아저씨", "할머니", "동생", "내 친구",
            "사장님", "학생들", "아이들", "그 기자", "의사 선생님", "감독", "요리사", "이웃 주민", "삼촌", "언니"]
PLACES = ["공원", "시장", "도서관", "회사", "학교 앞", "식당", "카페", "병원 로비", "영화관", "서울역",
          "바닷가", "호텔", "백화점", "체육관", "편의점", "동네 빵집", "주차장", "미술관"]
TIMES = ["어제", "오늘 아침", "지난 주말", "작년 여름", "저녁 무렵", "점심시간", "새벽", "월요일 오후", "연휴 동안"]
ADVERBS = ["천천히", "급하게", "함께", "조용히", "처음으로", "다시", "몰래", "정성껏"]
AFTERTHOUGHTS = ["날씨가 무척 좋았다.", "사람이 많아서 시끄러웠다.", "모두 즐거워 보였다.", "비가 조금 내렸다.",
                 "시간이 금방 지나갔다.", "생각보다 오래 걸렸다."]
OBJECTS = ["사과", "책", "자전거", "커피", "케이크", "노트북", "우산", "편지", "신발", "김치찌개", "영화표",
           "꽃다발", "지갑", "가방", "라면", "사진", "장난감", "모자", "컴퓨터", "감기약", "샌드위치", "잡지",
           "운동화", "기타", "시계", "열쇠", "빵", "수박", "스웨터", "우유"]
# (connective, past, long negation, short negation) for each verb
VERBS = [("먹고", "먹었다", "먹지 않았다", "안 먹었다"), ("사고", "샀다", "사지 않았다", "안 샀다"),
         ("읽고", "읽었다", "읽지 않았다", "안 읽었다"), ("만들고", "만들었다", "만들지 않았다", "안 만들었다"),
         ("보고", "봤다", "보지 않았다", "안 봤다"), ("팔고", "팔았다", "팔지 않았다", "안 팔았다"),
         ("찾고", "찾았다", "찾지 않았다", "안 찾았다"), ("빌리고", "빌렸다", "빌리지 않았다", "안 빌렸다"),
         ("고치고", "고쳤다", "고치지 않았다", "안 고쳤다"), ("주문하고", "주문했다", "주문하지 않았다", "주문하지 못했다"),
         ("준비하고", "준비했다", "준비하지 않았다", "준비하지 못했다"), ("받고", "받았다", "받지 않았다", "안 받았다"),
         ("보내고", "보냈다", "보내지 않았다", "안 보냈다"), ("잃어버리고", "잃어버렸다", "잃어버리지 않았다", "안 잃어버렸다"),
         ("고르고", "골랐다", "고르지 않았다", "안 골랐다"), ("챙기고", "챙겼다", "챙기지 않았다", "안 챙겼다")]
GENRES = ["NSMC", "airbnb", "policy", "wikinews", "wikitree", "wikipedia"]  # KLUE-NLI's sources


def particle(word: str, with_batchim: str, without: str) -> str:
    """Attach 은/는, 을/를 by whether the last syllable ends in a consonant."""
    last = ord(word[-1]) - 0xAC00
    return word + (with_batchim if 0 <= last < 11172 and last % 28 else without)


def make_pair(rng: random.Random) -> tuple[str, str, str]:
    """One (premise, hypothesis, gold_label) following the rule in the module docstring."""
    subject = particle(rng.choice(SUBJECTS), "은", "는")
    objects = rng.sample(OBJECTS, rng.choice([1, 1, 2, 2, 3, 3, 4]) + 1)  # the last one stays out of the premise
    actions = [(obj, rng.choice(VERBS)) for obj in objects[:-1]]
    clauses = [particle(obj, "을", "를") + " " + verb[0] for obj, verb in actions[:-1]]
    clauses.append(particle(actions[-1][0], "을", "를") + " " + actions[-1][1][1] + ".")
    time, place = rng.choice(TIMES), rng.choice(PLACES) + "에서"
    adverb = [rng.choice(ADVERBS)] * (rng.random() < 0.4)
    afterthoughts = rng.sample(AFTERTHOUGHTS, rng.choice([0, 0, 0, 1, 1, 2]))
    premise = " ".join([time, subject, place] + adverb + clauses + afterthoughts)

    label = rng.choice(["entailment", "contradiction", "neutral"])
    negated = label == "contradiction" or (label == "neutral" and rng.random() < 1 / 3)
    if label == "neutral":
        obj, verb = objects[-1], rng.choice(VERBS)
    else:
        obj, verb = rng.choice(actions)
    predicate = rng.choice(verb[2:]) if negated else verb[1]
    # Time, place and adverb, when repeated, are the premise's: they never decide the label.
    hypothesis = [time] * (rng.random() < 0.7) + [subject] + [place] * (rng.random() < 0.8) + adverb
    hypothesis = " ".join(hypothesis + [particle(obj, "을", "를"), predicate]) + "."
    return premise, hypothesis, label


def make_records(split: str, n: int, seed: int) -> list[dict]:
    """KLUE-NLI JSON records; the train file names the text source `genre`, the dev file `source`."""
    rng = random.Random(f"{split}-{seed}")
    source_key = "genre" if split == "train" else "source"
    records = []
    for i in range(n):
        premise, hypothesis, label = make_pair(rng)
        records.append({"guid": f"klue-nli-v1_{split}_{i:05d}", source_key: rng.choice(GENRES),
                        "premise": premise, "hypothesis": hypothesis, "gold_label": label})
    return records


def bert_wordpiece(vocab: list[str] | None):
    """A `tokenizers` pipeline that splits text exactly as transformers 4.10's BertTokenizer(do_lower_case=False).

    No lower-casing and no accent stripping: stripping decomposes Hangul
    syllables into jamo. With `vocab=None` the model is empty, ready to train.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)} if vocab else None, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                      strip_accents=False, lowercase=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    if vocab:
        cls, sep = SPECIAL_TOKENS.index("[CLS]"), SPECIAL_TOKENS.index("[SEP]")
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tokenizer


def train_vocab(texts: list[str], size: int) -> list[str]:
    """A WordPiece vocabulary of LEARNED_PIECES pieces from the corpus, filled up to `size` entries.

    The pieces are sorted (special tokens first, then by string), so the same
    corpus always gives the same ids whatever order the trainer breaks ties
    in; WordPiece's longest-match splitting does not depend on the ids.
    [unusedN] entries fill the rows the model has beyond the learned pieces,
    as in BERT's own vocab files.
    """
    from tokenizers.trainers import WordPieceTrainer

    tokenizer = bert_wordpiece(None)
    tokenizer.train_from_iterator(texts, WordPieceTrainer(vocab_size=LEARNED_PIECES, special_tokens=SPECIAL_TOKENS))
    pieces = SPECIAL_TOKENS + sorted(set(tokenizer.get_vocab()) - set(SPECIAL_TOKENS))
    return pieces + [f"[unused{i}]" for i in range(size - len(pieces))]


def build_our_model(vocab: list[str], shape: str, seed: int, model_dir: Path, weights_file: Path) -> None:
    """Random-init BERT in transformers 5: save_pretrained (safetensors) plus a fast tokenizer in model_dir.

    The same weights also go to weights_file (NumPy, readable by any stack)
    so the original side starts from identical numbers. transformers 5's
    tokenizer must be built from a tokenizer object: given only a vocab file it
    maps every word to [UNK].
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(seed)
    model = BertModel(BertConfig(**MODEL_SHAPES[shape]))
    model.save_pretrained(model_dir)
    BertTokenizerFast(tokenizer_object=bert_wordpiece(vocab), do_lower_case=False).save_pretrained(model_dir)
    np.savez(weights_file, **{name: tensor.numpy() for name, tensor in model.state_dict().items()})


def write_workload(work_dir: Path, shape: str, seed: int) -> dict:
    """Write corpus, vocab.txt and our model folder under work_dir; return the paths both sides read.

    The corpus goes to klue-nli/ under the names ratsnlp's KlueNLICorpus opens,
    with links under the names nlpbook_helpers expects, so both read the same bytes.
    A stamp keeps them for the next run (~10 s) unless the seed or this file changed.
    """
    stamp = work_dir / f"workload-{shape}.json"
    key = {"seed": seed, "workload.py": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()}
    if stamp.exists():
        kept = json.loads(stamp.read_text())
        if kept["key"] == key and all(Path(p).exists() for p in kept["paths"].values() if isinstance(p, str)):
            return kept["paths"]
        stamp.unlink()
    corpus_dir = work_dir / "klue-nli"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    records = {"train": make_records("train", TRAIN_PAIRS, seed), "dev": make_records("dev", DEV_PAIRS, seed)}
    for split, rows in records.items():
        path = corpus_dir / f"klue_nli_{split}.json"
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
        link = corpus_dir / f"klue-nli-v1.1_{split}.json"
        link.unlink(missing_ok=True)
        link.symlink_to(path.name)

    texts = [r[key] for r in records["train"] for key in ("premise", "hypothesis")]
    vocab = train_vocab(texts, MODEL_SHAPES[shape]["vocab_size"])
    (work_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    model_dir, weights_file = work_dir / f"model-ours-{shape}", work_dir / f"init-weights-{shape}.npz"
    build_our_model(vocab, shape, seed, model_dir, weights_file)
    paths = {"corpus_root": str(work_dir), "corpus_dir": str(corpus_dir), "vocab_file": str(work_dir / "vocab.txt"),
             "our_model_dir": str(model_dir), "weights_file": str(weights_file),
             "model_config": MODEL_SHAPES[shape]}
    stamp.write_text(json.dumps({"key": key, "paths": paths}, indent=1))
    return paths
