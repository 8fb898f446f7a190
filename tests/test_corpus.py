import hashlib
import json

import pytest

from nlpbook_helpers import corpus
from nlpbook_helpers.corpus import LABEL2ID, LABELS_KO, SPLITS, Split, fetch, load_corpus, read_klue_nli
from nlpbook_helpers.errors import NlpbookError
from nlpbook_helpers.sample import SAMPLE_DATA_DIR


def test_label_ids_are_the_books():
    assert LABEL2ID == {"entailment": 0, "contradiction": 1, "neutral": 2}
    assert LABELS_KO == {"entailment": "참", "contradiction": "거짓", "neutral": "중립"}


def test_sample_corpus_reads_balanced_with_both_genre_keys():
    train, dev = load_corpus(SAMPLE_DATA_DIR)
    assert len(train) >= 300 and len(dev) >= 90
    for split in (train, dev):
        counts = [sum(e.label == i for e in split) for i in range(3)]
        assert max(counts) - min(counts) <= 1
        assert all(e.genre for e in split)  # train says "genre", dev says "source"
    assert not {e.premise for e in train} & {e.premise for e in dev}


def write(tmp_path, records, name="bad.json"):
    path = tmp_path / name
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


GOOD = {"guid": "g0", "genre": "policy", "premise": "정부가 예산을 늘렸다.", "hypothesis": "예산이 늘었다.", "gold_label": "entailment"}


@pytest.mark.parametrize("change, words", [
    ({"premise": ""}, "'premise' is missing or empty"),
    ({"hypothesis": "   "}, "'hypothesis' is missing or empty"),
    ({"premise": None}, "'premise' is missing or empty"),
    ({"gold_label": "maybe"}, "unknown gold_label 'maybe'"),
    ({"gold_label": 1}, "unknown gold_label 1"),
])
def test_bad_record_names_file_and_index(tmp_path, change, words):
    path = write(tmp_path, [GOOD, GOOD, {**GOOD, **change}])
    with pytest.raises(NlpbookError) as caught:
        read_klue_nli(path)
    assert f"{path}, record 3: {words}" in str(caught.value)  # the third record, counted from 1
    assert "3번째 레코드" in caught.value.ko


def test_html_page_and_non_list_are_refused(tmp_path):
    html = tmp_path / "page.json"
    html.write_text("<html><body>rate limited</body></html>")
    with pytest.raises(NlpbookError, match="not readable KLUE-NLI JSON"):
        read_klue_nli(html)
    with pytest.raises(NlpbookError, match="not a JSON array"):
        read_klue_nli(write(tmp_path, {"data": []}))


# --- downloads, against a server on 127.0.0.1 ---------------------------------------------

def corpus_bytes(n):
    return json.dumps([{**GOOD, "guid": f"g{i}"} for i in range(n)], ensure_ascii=False).encode()


def small_split(body, records, with_hash=True):
    return Split("klue-nli-v1.1_dev.json", records, hashlib.sha256(body).hexdigest() if with_hash else None, "x")


def test_good_download_lands_and_verifies(http_server, tmp_path):
    body = corpus_bytes(5)
    http_server.routes["/klue-nli-v1.1_dev.json"] = [(200, body)]
    dest = tmp_path / "klue-nli-v1.1_dev.json"
    fetch(f"{http_server.url}/klue-nli-v1.1_dev.json", dest, small_split(body, 5), retries=2, backoff=0)
    assert dest.read_bytes() == body
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("served, with_hash, problem", [
    (corpus_bytes(5)[:-40], False, "not valid JSON"),  # truncated transfer
    (b"<!DOCTYPE html><html>404</html>", True, "an error page"),  # HTML instead of JSON
    (corpus_bytes(5).replace(b"g4", b"g9"), True, "sha256 mismatch"),  # right shape, wrong bytes
    (corpus_bytes(4), False, "expected 5 records, got 4"),  # structure check when no hash is known
])
def test_corrupt_download_never_leaves_a_file(http_server, tmp_path, served, with_hash, problem):
    http_server.routes["/f.json"] = [(200, served)]
    dest = tmp_path / "klue-nli-v1.1_dev.json"
    with pytest.raises(NlpbookError, match=problem):
        fetch(f"{http_server.url}/f.json", dest, small_split(corpus_bytes(5), 5, with_hash), retries=2, backoff=0)
    assert list(tmp_path.iterdir()) == []
    assert len(http_server.hits) == 2  # corrupt content is fetched again before giving up


def test_server_error_then_success_retries(http_server, tmp_path):
    body = corpus_bytes(3)
    http_server.routes["/f.json"] = [(500, b"oops"), (503, b"busy"), (200, body)]
    dest = tmp_path / "f.json"
    fetch(f"{http_server.url}/f.json", dest, small_split(body, 3), retries=4, backoff=0)
    assert dest.read_bytes() == body and len(http_server.hits) == 3


def test_missing_file_is_not_retried(http_server, tmp_path):
    with pytest.raises(NlpbookError, match="HTTP 404 Not Found"):
        fetch(f"{http_server.url}/nothing.json", tmp_path / "f.json", small_split(b"", 1), retries=4, backoff=0)
    assert len(http_server.hits) == 1


def test_interrupted_download_restarts_cleanly(http_server, tmp_path):
    body = corpus_bytes(3)
    dest = tmp_path / "f.json"
    (tmp_path / "f.json.part").write_bytes(b'[{"guid": "half a file')  # left by a killed run
    http_server.routes["/f.json"] = [(200, body)]
    fetch(f"{http_server.url}/f.json", dest, small_split(body, 3), retries=1, backoff=0)
    assert dest.read_bytes() == body and not (tmp_path / "f.json.part").exists()


def test_no_network_says_where_to_put_the_files(tmp_path):
    with pytest.raises(NlpbookError) as caught:
        fetch("http://127.0.0.1:9/f.json", tmp_path / "klue-nli-v1.1_dev.json", small_split(b"", 1), retries=2, backoff=0)
    assert f"put klue-nli-v1.1_dev.json into {tmp_path} by hand" in caught.value.en
    assert f"{tmp_path}에 넣으세요" in caught.value.ko


def test_download_both_files_from_a_mirror_and_skip_valid_copies(http_server, tmp_path, monkeypatch):
    train, dev = corpus_bytes(6), corpus_bytes(3)
    monkeypatch.setattr(corpus, "SPLITS", {
        "train": Split("klue-nli-v1.1_train.json", 6, None, "x"),
        "dev": Split("klue-nli-v1.1_dev.json", 3, hashlib.sha256(dev).hexdigest(), "x"),
    })
    http_server.routes = {"/m/klue-nli-v1.1_train.json": [(200, train)], "/m/klue-nli-v1.1_dev.json": [(200, dev)]}
    paths = corpus.download_klue_nli(tmp_path, base_url=f"{http_server.url}/m", backoff=0)
    assert paths["train"].read_bytes() == train and paths["dev"].read_bytes() == dev
    corpus.download_klue_nli(tmp_path, base_url=f"{http_server.url}/m", backoff=0)
    assert len(http_server.hits) == 2  # the second call found valid files and fetched nothing


def test_real_dev_file_facts_are_pinned():
    assert SPLITS["dev"].records == 3000 and SPLITS["train"].records == 24998
    assert SPLITS["dev"].sha256 == "0699db82be17766b26e199864e6260443e17ec6e91d1870e876419e388f245b1"


def test_hub_parquet_labels_are_mapped_by_name(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    hub_names = ["entailment", "neutral", "contradiction"]  # the hub's order, not ours
    table = pa.table({"guid": ["a", "b", "c"], "source": ["NSMC"] * 3, "premise": ["전제 문장"] * 3,
                      "hypothesis": ["가설 문장"] * 3, "label": [0, 1, 2]})
    info = {"info": {"features": {"label": {"names": hub_names}}}}
    table = table.replace_schema_metadata({"huggingface": json.dumps(info)})
    pq.write_table(table, tmp_path / "nli.parquet")
    dest = tmp_path / "klue-nli-v1.1_train.json"
    corpus.parquet_to_klue_json(tmp_path / "nli.parquet", dest, Split(dest.name, 3, None, "x"))
    examples = read_klue_nli(dest)
    assert [e.label for e in examples] == [LABEL2ID["entailment"], LABEL2ID["neutral"], LABEL2ID["contradiction"]]
    assert json.loads(dest.read_text())[0]["genre"] == "NSMC"
