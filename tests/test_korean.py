"""Korean particles chosen by the final consonant of the word before them, never hedged as "이(가)"."""

import re
from pathlib import Path

import pytest

from nlpbook_helpers.support.errors import NlpbookError
from nlpbook_helpers.support.korean import josa, particle

PACKAGE = Path(__file__).resolve().parents[1] / "nlpbook_helpers"
HEDGED = re.compile(r"이\(가\)|가\(이\)|을\(를\)|를\(을\)|은\(는\)|는\(은\)|과\(와\)|와\(과\)|\(으\)로|\(이\)")
# Every module's messages go through korean.josa; korean.py itself quotes the hedges it replaces.
CHECKED = tuple(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if path.name != "korean.py")


def hub_error(kind):
    """One of huggingface_hub's exceptions without an HTTP response (its constructor's arguments vary by version)."""
    error = kind.__new__(kind)
    Exception.__init__(error, "from the hub")
    return error


@pytest.mark.parametrize("word, pair, expected", [
    ("전제", "이/가", "전제가"), ("가설", "이/가", "가설이"), ("폴더", "이/가", "폴더가"), ("모델", "을/를", "모델을"),
    ("데이터셋", "은/는", "데이터셋은"), ("파일", "과/와", "파일과"), ("토큰", "과/와", "토큰과"), ("문장", "으로/로", "문장으로"),
    ("파일", "으로/로", "파일로"), ("폴더", "으로/로", "폴더로"), ("모델", "이라/라", "모델이라"), ("데이터셋", "이라/라", "데이터셋이라"),
    # not Hangul: as read aloud
    ("runs/paircls/best", "이/가", "runs/paircls/best가"),  # 베스트
    ("config.json", "이/가", "config.json이"),  # 제이슨
    ("모델 'beomi/kcbert-base'", "을/를", "모델 'beomi/kcbert-base'를"),  # 베이스, the quote skipped
    ("포트 8000", "을/를", "포트 8000을"),  # 팔천
    ("8000~8099", "을/를", "8000~8099를"),  # 팔천구십구
    ("스텝 1", "으로/로", "스텝 1로"),  # 일
    ("스텝 3", "으로/로", "스텝 3으로"),  # 삼
    ("html", "이/가", "html이"),  # 엘
    ("klue-nli-v1.1_dev.json", "을/를", "klue-nli-v1.1_dev.json을"),
    ("train.tsv", "이/가", "train.tsv가"),  # 브이
    ("(best/)", "은/는", "(best/)는"),
])
def test_the_particle_fits_the_word(word, pair, expected):
    assert josa(word, pair) == expected


def test_every_final_consonant_of_a_syllable():
    """가 (no final) and 각 ... 갛 (the 27 finals): 이 after each final, 가 without; 로 only after none or ㄹ."""
    for index in range(28):
        syllable = chr(ord("가") + index)
        assert particle(syllable, "이/가") == ("이" if index else "가"), syllable
        assert particle(syllable, "으로/로") == ("로" if index in (0, 8) else "으로"), syllable


@pytest.mark.parametrize("name", CHECKED)
def test_no_message_hedges_a_particle(name):
    source = (PACKAGE / name).read_text(encoding="utf-8")
    assert not HEDGED.findall(source), f"{name}: use korean.josa(word, '이/가') instead of {HEDGED.findall(source)}"


@pytest.mark.parametrize("path, words", [
    ("./runs/paircls/best", "모델 폴더 runs/paircls/best가 없습니다"),
    ("./runs/model", "모델 폴더 runs/model이 없습니다"),
    ("./학습결과/최고모델", "모델 폴더 학습결과/최고모델이 없습니다"),
    ("./결과/폴더", "모델 폴더 결과/폴더가 없습니다"),
])
def test_the_missing_folder_message(path, words):
    from nlpbook_helpers.support.hub import check_model_folder

    with pytest.raises(NlpbookError) as caught:
        check_model_folder(path, local=True)
    assert words in caught.value.ko


@pytest.mark.parametrize("repo_id, kind, words", [
    ("beomi/kcbert-bas", "model", "모델 'beomi/kcbert-bas'를 찾을 수 없습니다"),
    ("klue/klue", "dataset", "데이터셋 'klue/klue'를 찾을 수 없습니다"),
    ("someone/모델", "model", "모델 'someone/모델'을 찾을 수 없습니다"),
])
def test_the_hub_messages(repo_id, kind, words):
    from huggingface_hub.errors import RepositoryNotFoundError

    from nlpbook_helpers.support.hub import explain_hub_error

    error = explain_hub_error(hub_error(RepositoryNotFoundError), repo_id, kind)
    assert words in error.ko, error.ko


def test_the_gated_and_invalid_name_messages():
    from huggingface_hub.errors import GatedRepoError, HFValidationError

    from nlpbook_helpers.support.hub import explain_hub_error

    assert "모델 'meta/llama'는 승인을" in explain_hub_error(hub_error(GatedRepoError), "meta/llama").ko
    invalid = explain_hub_error(HFValidationError("bad"), "a//b", "dataset").ko
    assert "허브 데이터셋이라면" in invalid
    assert "허브 모델이라면" in explain_hub_error(HFValidationError("bad"), "a//b").ko
