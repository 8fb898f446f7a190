"""Share the trained model on the Hugging Face Hub, and optionally a demo Space (notebook 08, section 7).

`push` (also a command) uploads best/ with its model card; `space=True` adds NAME-demo, a Gradio demo Space.
"""

from pathlib import Path

from ..support.errors import NlpbookError
from ..support.hub import check_model_folder, explain_hub_error
from ..support.korean import josa

SPACE = Path(__file__).parent.parent / "data" / "space"  # the demo Space's app.py and README.md
TOKENS_PAGE = "https://huggingface.co/settings/tokens"

NO_TOKEN = NlpbookError(
    f"Hugging Face 토큰이 없습니다. {TOKENS_PAGE} 에서 write 토큰을 만들어 Colab 보안 비밀(왼쪽 열쇠, 노트북 접근 켜기) "
    "HF_TOKEN에 넣거나 huggingface_hub.notebook_login()을, 터미널에서는 `hf auth login`이나 환경 변수 HF_TOKEN을 쓰세요.",
    f"No Hugging Face token: create a write token at {TOKENS_PAGE}, then add it as Colab's secret HF_TOKEN (key icon, "
    "notebook access on) or run huggingface_hub.notebook_login(); in a terminal, `hf auth login` or $HF_TOKEN.")


def push(model_dir: str | Path, repo_id: str, private: bool = False, space: bool = False,
         token: str | None = None) -> list:
    """Upload model_dir (a best/ folder) to `repo_id` (NAME or USER/NAME); return the page URL of each repo made."""
    from huggingface_hub import CommitOperationAdd, HfApi, get_token
    from huggingface_hub.utils import validate_repo_id
    try:  # the name, and its Space's NAME-demo, as the Hub accepts them: checked before any token or network
        for name in [repo_id] + ([f"{repo_id}-demo"] if space else []):
            validate_repo_id(name)
    except ValueError as error:  # huggingface_hub's HFValidationError
        raise NlpbookError(f"'{repo_id}': 허브 저장소 이름으로 쓸 수 없습니다. '이름'이나 '사용자/이름'을 영문자·숫자·"
                           "-·_·.로 96자까지 쓰세요(-나 .으로 시작·끝나지 않고 --·.. 없이). 예: 'my-nli-model'",
                           f"'{repo_id}' is not a valid Hub repository name ({error}): use NAME or USER/NAME, "
                           "with letters, digits, '-', '_' and '.', such as 'my-nli-model'.") from None
    check_model_folder(str(model_dir))
    api = HfApi(token=token or get_token())  # HF_TOKEN, the Colab secret, or a saved login
    if not api.token:
        raise NO_TOKEN
    try:
        me = api.whoami()  # USER/NAME for a bare NAME, under the user or one of their organizations
        if me.get("auth", {}).get("accessToken", {}).get("role") == "read":
            raise NlpbookError(f"이 토큰은 읽기(read) 전용이라 올릴 수 없습니다. {TOKENS_PAGE} 에서 write 토큰을 만들어 바꾸세요.",
                               f"This token is read-only: create a write token at {TOKENS_PAGE} and replace HF_TOKEN.")
        namespace, _, name = repo_id.rpartition("/")
        if namespace and namespace not in [me["name"]] + [org["name"] for org in me.get("orgs", [])]:
            raise NlpbookError(f"{josa(repr(namespace), '은/는')} 다른 사람의 이름공간입니다. '{me['name']}/{name}'처럼 쓰세요.",
                               f"'{namespace}' is someone else's namespace: use your own, as in '{me['name']}/{name}'.")
        repo_id = f"{namespace or me['name']}/{name}"
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
        if (explained := explain_push_error(error, repo_id)) is None:
            raise
        raise explained from error


def explain_push_error(error: Exception, repo_id: str) -> NlpbookError | None:
    """What only an upload meets (a bad token, no right to write, no network), else hub.py's explain_hub_error."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    if status == 401:
        return NlpbookError(f"Hugging Face 토큰이 올바르지 않거나 만료되었습니다. {TOKENS_PAGE} 에서 새로 만들어 바꾸세요.",
                            f"The Hugging Face token is invalid or expired: create a new one at {TOKENS_PAGE}.")
    if status == 403:
        return NlpbookError(f"'{repo_id}'에 쓸 권한이 없습니다. 토큰의 write 권한과 이름공간(사용자/이름)을 확인하세요.",
                            f"No permission to write to '{repo_id}': check the token's write access and the namespace.")
    network = any(base.__name__ == "TransportError" for base in type(error).__mro__)  # httpx's (httpx2's in hub 2.x)
    if network or isinstance(error, (ConnectionError, TimeoutError)):
        return NlpbookError("Hugging Face 허브에 연결할 수 없습니다. 인터넷(Colab이면 런타임 연결)을 확인하고 다시 실행하세요.",
                            "Cannot reach the Hugging Face hub: check the internet (in Colab, the runtime) and retry.")
    return explain_hub_error(error, repo_id)


def space_files(model_id: str) -> dict:
    """data/space/'s app.py and README.md (pinning the Gradio tested here) for `model_id` (a Hub name or a folder)."""
    texts = {name: (SPACE / f"{name}.txt").read_text(encoding="utf-8") for name in ("app.py", "README.md")}
    return {"requirements.txt": "torch\ntransformers>=5\n", **{name: text.replace("<MODEL_ID>", model_id).replace(
        "<MODEL_NAME>", model_id.split("/")[-1]) for name, text in texts.items()}}
