import dataclasses
import json

import pytest

from nlpbook_helpers import corpus
from nlpbook_helpers.corpus import KLUE_NLI, LABEL2ID, LABELS_KO, CorpusFile, load_corpus, read_klue_nli
from nlpbook_helpers.support.download import download, fetch, git_blob_id
from nlpbook_helpers.support.errors import NlpbookError
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
    with pytest.raises(NlpbookError, match="holds no records \\(expected a JSON array of them\\)"):
        read_klue_nli(write(tmp_path, {"data": []}))


# --- downloads, against a server on 127.0.0.1 ---------------------------------------------

def corpus_bytes(n):
    return json.dumps([{**GOOD, "guid": f"g{i}"} for i in range(n)], ensure_ascii=False).encode()


def blob(body: bytes) -> str:
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()


def small_file(body, records, with_id=True):
    return CorpusFile("klue-nli-v1.1_dev.json", records, blob(body) if with_id else None)


def get(url, dest, file, **options):
    fetch(url, dest, file, KLUE_NLI.records, **{"retries": 2, "backoff": 0, **options})


def test_good_download_lands_and_verifies(http_server, tmp_path):
    body = corpus_bytes(5)
    http_server.routes["/klue-nli-v1.1_dev.json"] = [(200, body)]
    dest = tmp_path / "klue-nli-v1.1_dev.json"
    get(f"{http_server.url}/klue-nli-v1.1_dev.json", dest, small_file(body, 5))
    assert dest.read_bytes() == body and git_blob_id(dest) == blob(body)
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("served, with_id, problem", [
    (corpus_bytes(5)[:-40], False, "not readable KLUE-NLI JSON"),  # truncated transfer
    (b"<!DOCTYPE html><html>404</html>", True, "not readable KLUE-NLI JSON"),  # HTML instead of JSON
    (corpus_bytes(5).replace(b"g4", b"g9"), True, "its bytes differ from the published file"),  # right shape, wrong bytes
    (corpus_bytes(4), False, "expected 5 records, got 4"),  # structure check when no id is known
])
def test_corrupt_download_is_refused_at_once_and_never_leaves_a_file(http_server, tmp_path, served, with_id, problem):
    http_server.routes["/f.json"] = [(200, served)]
    dest = tmp_path / "klue-nli-v1.1_dev.json"
    with pytest.raises(NlpbookError, match=problem):
        get(f"{http_server.url}/f.json", dest, small_file(corpus_bytes(5), 5, with_id), retries=4, backoff=30)
    assert list(tmp_path.iterdir()) == []
    assert len(http_server.hits) == 1  # the same server sends the same bytes: not fetched again, no backoff


def test_server_error_then_success_retries(http_server, tmp_path):
    body = corpus_bytes(3)
    http_server.routes["/f.json"] = [(500, b"oops"), (503, b"busy"), (200, body)]
    dest = tmp_path / "f.json"
    get(f"{http_server.url}/f.json", dest, small_file(body, 3), retries=4)
    assert dest.read_bytes() == body and len(http_server.hits) == 3


def test_missing_file_is_not_retried(http_server, tmp_path):
    with pytest.raises(NlpbookError, match="HTTP 404 Not Found"):
        get(f"{http_server.url}/nothing.json", tmp_path / "f.json", small_file(b"", 1), retries=4)
    assert len(http_server.hits) == 1


def test_interrupted_download_restarts_cleanly(http_server, tmp_path):
    body = corpus_bytes(3)
    dest = tmp_path / "f.json"
    (tmp_path / "f.json.part").write_bytes(b'[{"guid": "half a file')  # left by a killed run
    http_server.routes["/f.json"] = [(200, body)]
    get(f"{http_server.url}/f.json", dest, small_file(body, 3), retries=1)
    assert dest.read_bytes() == body and not (tmp_path / "f.json.part").exists()


def test_no_network_says_where_to_put_the_files(tmp_path):
    with pytest.raises(NlpbookError) as caught:
        get("http://127.0.0.1:9/f.json", tmp_path / "klue-nli-v1.1_dev.json", small_file(b"", 1))
    assert f"put klue-nli-v1.1_dev.json into {tmp_path} by hand" in caught.value.en
    assert f"{tmp_path}에 넣으세요" in caught.value.ko


def mirror_corpus(train: bytes, dev: bytes, train_id=None):
    """KLUE-NLI's description with the ids of files we wrote: what a mirror of them must serve."""
    dev_file = CorpusFile("klue-nli-v1.1_dev.json", 3, blob(dev))
    return dataclasses.replace(KLUE_NLI, train=(CorpusFile("klue-nli-v1.1_train.json", 6, train_id or blob(train)),),
                               dev=(dev_file,), test=(dev_file,))


def test_download_both_files_from_a_mirror_and_skip_valid_copies(http_server, tmp_path):
    train, dev = corpus_bytes(6), corpus_bytes(3)
    http_server.routes = {"/m/klue-nli-v1.1_train.json": [(200, train)], "/m/klue-nli-v1.1_dev.json": [(200, dev)]}
    paths = download(mirror_corpus(train, dev), tmp_path, f"{http_server.url}/m", backoff=0)
    assert paths["klue-nli-v1.1_train.json"].read_bytes() == train and paths["klue-nli-v1.1_dev.json"].read_bytes() == dev
    download(mirror_corpus(train, dev), tmp_path, f"{http_server.url}/m", backoff=0)
    assert len(http_server.hits) == 2  # the second call found valid files and fetched nothing


def test_a_made_up_train_file_with_the_right_count_is_refused_by_its_id(http_server, tmp_path):
    train, dev = corpus_bytes(6), corpus_bytes(3)
    made_up = train.replace(b"g5", b"g7")  # six well-formed records, not the published bytes
    http_server.routes = {"/m/klue-nli-v1.1_train.json": [(200, made_up)], "/m/klue-nli-v1.1_dev.json": [(200, dev)]}
    with pytest.raises(NlpbookError) as caught:
        download(mirror_corpus(train, dev), tmp_path, f"{http_server.url}/m", backoff=0)
    assert f"git blob {blob(made_up)}, expected {blob(train)}" in caught.value.en
    assert "a mirror serving other bytes" in caught.value.en
    assert not (tmp_path / "klue-nli-v1.1_train.json").exists() and not list(tmp_path.glob("*.part"))


def test_the_real_ids_refuse_the_sample():
    for file in KLUE_NLI.files():
        path = SAMPLE_DATA_DIR / file.filename
        assert file.blob is not None and git_blob_id(path) != file.blob


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
    corpus.parquet_to_klue_json(tmp_path / "nli.parquet", dest, CorpusFile(dest.name, 3, None))
    examples = read_klue_nli(dest)
    assert [e.label for e in examples] == [LABEL2ID["entailment"], LABEL2ID["neutral"], LABEL2ID["contradiction"]]
    assert json.loads(dest.read_text())[0]["genre"] == "NSMC"
