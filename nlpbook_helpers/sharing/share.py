"""Share the trained model on the Hugging Face Hub, and optionally a demo Space (notebook 08, section 7).

    python -m nlpbook_helpers push --model-dir DIR --repo-id NAME [--private] [--space]

`push` uploads best/ with its model card (README.md, written by training); with `space=True` it also creates a
Gradio Space beside it, NAME-demo, whose app.py loads the model with transformers' `pipeline` (`space_files`).
Each way it can fail ends in one NlpbookError: what only an upload meets is worded here, the rest in support/hub.py.
"""

from pathlib import Path

from ..support.errors import NlpbookError
from ..support.hub import check_model_folder, explain_hub_error
from ..support.korean import josa

SPACE_GRADIO = "6.31.0"  # the Gradio the Space runs; the version its app.py is tested with here
TOKENS_PAGE = "https://huggingface.co/settings/tokens"

NO_TOKEN = NlpbookError(
    f"Hugging Face 토큰이 없습니다. {TOKENS_PAGE} 에서 write 권한 토큰을 만든 뒤, Colab에서는 왼쪽 열쇠 아이콘(보안 비밀)에 "
    "이름 HF_TOKEN으로 넣고 노트북 접근을 켜거나 huggingface_hub.notebook_login()을 실행하세요. "
    "터미널에서는 `hf auth login` 또는 환경 변수 HF_TOKEN입니다.",
    f"No Hugging Face token: create one with write access at {TOKENS_PAGE}, then in Colab add it as the secret "
    "HF_TOKEN (key icon on the left, notebook access on) or run huggingface_hub.notebook_login(); "
    "in a terminal, `hf auth login` or the HF_TOKEN environment variable.")


def push(model_dir: str | Path, repo_id: str, private: bool = False, space: bool = False,
         token: str | None = None) -> list:
    """Upload model_dir (a best/ folder) to `repo_id` (NAME or USER/NAME); return the page URL of each repo made."""
    from huggingface_hub import CommitOperationAdd, HfApi, get_token

    check_repo_id(repo_id, space)
    check_model_folder(str(model_dir))
    api = HfApi(token=token or get_token())  # HF_TOKEN, the Colab secret, or a saved login
    if not api.token:
        raise NO_TOKEN
    try:
        repo_id = writable_repo_id(api.whoami(), repo_id)
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(model_dir), ignore_patterns=["*.part"],
                          commit_message="Upload a model trained with nlpbook_helpers")
        urls = [f"{api.endpoint}/{repo_id}"]
        if space:
            api.create_repo(f"{repo_id}-demo", repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
            files = [CommitOperationAdd(name, text.encode("utf-8")) for name, text in space_files(repo_id).items()]
            api.create_commit(f"{repo_id}-demo", files, repo_type="space",
                              commit_message="A demo of the model, written by nlpbook_helpers")
            urls.append(f"{api.endpoint}/spaces/{repo_id}-demo")
        return urls
    except Exception as error:
        explained = explain_push_error(error, repo_id)
        if explained is None:
            raise
        raise explained from error


def check_repo_id(repo_id: str, space: bool = False) -> None:
    """NAME or USER/NAME as the Hub accepts it (and its Space, NAME-demo), checked before any token or network."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        for name in [repo_id] + ([f"{repo_id}-demo"] if space else []):
            validate_repo_id(name)
    except HFValidationError as error:
        raise NlpbookError(
            f"'{repo_id}': 허브 저장소 이름으로 쓸 수 없습니다. '이름' 또는 '사용자/이름' 형식으로, 영문자·숫자·-·_·.만 써서 "
            "96자 이하로 지으세요(-나 .으로 시작하거나 끝나지 않고, --나 ..이 없게). 예: 'my-nli-model'",
            f"'{repo_id}' is not a valid Hub repository name ({error}): use NAME or USER/NAME, with letters, digits, "
            "'-', '_' and '.', such as 'my-nli-model'.") from None


def writable_repo_id(me: dict, repo_id: str) -> str:
    """USER/NAME for a bare NAME; refuse a read-only token and a namespace that is neither the user nor their org."""
    if me.get("auth", {}).get("accessToken", {}).get("role") == "read":
        raise NlpbookError(
            f"이 토큰은 읽기(read) 전용이라 업로드할 수 없습니다. {TOKENS_PAGE} 에서 write 권한 토큰을 만들어 HF_TOKEN을 바꾸세요.",
            f"This token is read-only and cannot upload: create a token with write access at {TOKENS_PAGE} "
            "and replace HF_TOKEN.")
    namespace, _, name = repo_id.rpartition("/")
    if namespace and namespace not in [me["name"]] + [org["name"] for org in me.get("orgs", [])]:
        raise NlpbookError(
            f"{josa(repr(namespace), '은/는')} 다른 사람의 이름공간이라 '{repo_id}'에 올릴 수 없습니다. '{me['name']}/{name}'처럼 "
            "내 이름으로 시작하는 이름을 쓰세요.",
            f"'{namespace}' is someone else's namespace, so '{repo_id}' cannot be yours: use a name under your own, "
            f"such as '{me['name']}/{name}'.")
    return f"{namespace or me['name']}/{name}"


def explain_push_error(error: Exception, repo_id: str) -> NlpbookError | None:
    """What only an upload meets (a bad token, no right to write, no network), else hub.py's explain_hub_error."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    if status == 401:
        return NlpbookError(
            f"Hugging Face 토큰이 올바르지 않거나 만료되었습니다. {TOKENS_PAGE} 에서 새로 만들어 HF_TOKEN을 바꾸세요.",
            f"The Hugging Face token is invalid or expired: create a new one at {TOKENS_PAGE} and replace HF_TOKEN.")
    if status == 403:
        return NlpbookError(
            f"'{repo_id}'에 쓸 권한이 없습니다. 토큰에 write 권한이 있는지, 이름이 내 이름공간(사용자/이름)에 있는지 확인하세요.",
            f"No permission to write to '{repo_id}': check that the token has write access and that the name is in "
            "your own namespace (USER/NAME).")
    network = any(base.__name__ == "TransportError" for base in type(error).__mro__)  # httpx's (httpx2's in hub 2.x)
    if network or isinstance(error, (ConnectionError, TimeoutError)):
        return NlpbookError(
            "Hugging Face 허브에 연결할 수 없습니다. 인터넷 연결을 확인하고(Colab이라면 런타임이 연결되어 있는지) 다시 실행하세요.",
            "Could not reach the Hugging Face hub: check the internet connection (in Colab, that the runtime is "
            "connected) and run again.")
    return explain_hub_error(error, repo_id)


def space_files(model_id: str) -> dict:
    """app.py, requirements.txt and README.md of a Gradio Space serving `model_id` (a Hub name or a local folder)."""
    readme = f"""---
title: {model_id.split("/")[-1]}
emoji: 🔤
colorFrom: blue
colorTo: green
sdk: gradio
sdk_version: {SPACE_GRADIO}
app_file: app.py
models: [{model_id}]
pinned: false
---

전제와 가설을 넣으면 [{model_id}](https://huggingface.co/{model_id})가 참·거짓·중립을 판단합니다.
A demo of [{model_id}](https://huggingface.co/{model_id}): type a premise and a hypothesis.
"""
    return {"app.py": SPACE_APP.replace("MODEL_ID_HERE", model_id), "requirements.txt": "torch\ntransformers>=5\n",
            "README.md": readme}


SPACE_APP = '''"""A demo of a sentence-pair classifier trained with nlpbook_helpers (written by its `push --space`)."""

import os

os.environ.setdefault("USE_HUB_KERNELS", "0")  # no Hub kernels, as the course runs (on in transformers 5.25)

import gradio as gr
from transformers import pipeline

MODEL_ID = "MODEL_ID_HERE"
MAX_CHARS = 2000
NAMES = {"entailment": "참 (entailment)", "contradiction": "거짓 (contradiction)", "neutral": "중립 (neutral)"}

classifier = pipeline("text-classification", model=MODEL_ID)


def judge(premise: str, hypothesis: str) -> dict:
    if not premise.strip() or not hypothesis.strip():
        raise gr.Error("전제와 가설을 모두 입력하세요. / Type both a premise and a hypothesis.")
    if max(len(premise), len(hypothesis)) > MAX_CHARS:
        raise gr.Error(f"문장이 너무 깁니다. {MAX_CHARS:,}자 이하로 줄여 주세요. / Keep each text under {MAX_CHARS:,} characters.")
    scores = classifier({"text": premise, "text_pair": hypothesis}, top_k=None, truncation=True)
    return {NAMES[score["label"]]: score["score"] for score in scores}


demo = gr.Interface(judge, [gr.Textbox(label="전제 (premise)"), gr.Textbox(label="가설 (hypothesis)")],
                    gr.Label(num_top_classes=3, label="판단"), title="문장 쌍 분류 (참 · 거짓 · 중립)",
                    submit_btn="판단하기", flagging_mode="never")

if __name__ == "__main__":
    demo.launch()
'''
