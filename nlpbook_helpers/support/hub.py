"""Where a model comes from, a local folder or the Hugging Face hub, and what to say when neither works.

transformers wraps a hub failure (a typo, a flaky Colab network, a gated repository) in an OSError, often two
tracebacks deep; each becomes one NlpbookError naming the model and what to check, read from the exception types
in the chain, not from message text, which changes between versions.
"""

import difflib
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import NlpbookError
from .korean import josa

# The models the course names; a hub name close to one of them is probably a typo of it.
COURSE_MODELS = ("beomi/kcbert-base", "klue/bert-base", "klue/roberta-base", "monologg/koelectra-base-v3-discriminator")
REMEMBER_REACHABLE_S = 60  # a hub that answered is not asked again for this long
_answered_at: dict[str, float] = {}


def check_model_folder(name: str, local: bool = False) -> None:
    """A local folder holds a config and safetensors weights; local=True: `name` is a folder, never a hub name."""
    path = Path(name)
    if not path.exists():
        if local or name.startswith((".", "/", "~")):
            raise NlpbookError(f"모델 폴더 {josa(path, '이/가')} 없습니다. 학습이 만든 best/ 폴더(예: runs/paircls/best)의 "
                               "경로를 주세요.", f"The model folder {path} does not exist: give the path of the best/ "
                               "folder a training run wrote, such as runs/paircls/best.")
        return  # a hub name
    weights = list(path.glob("*.safetensors"))
    if not weights and list(path.glob("pytorch_model*.bin")):
        raise NlpbookError(f"{path}: 가중치가 pytorch_model.bin(pickle)뿐입니다. 이 과정은 안전한 safetensors 형식만 "
                           "읽습니다. save_pretrained로 저장한 폴더(model.safetensors가 있는 폴더)를 주세요.", f"{path} "
                           "holds its weights only as pytorch_model.bin (a pickle, which may run code when loaded): "
                           "this course loads safetensors only. Give a folder written by save_pretrained.")
    if not (path / "config.json").is_file() or not weights:
        raise NlpbookError(f"{path}에 모델 가중치(config.json과 *.safetensors)가 없습니다. save_pretrained로 저장한 "
                           "모델 폴더(예: runs/paircls/best)를 주세요.", f"{path} holds no model weights (config.json "
                           "and *.safetensors): point to a folder written by save_pretrained (e.g. runs/paircls/best).")


def hub_options(name: str) -> dict:
    """from_pretrained's options for `name`: local_files_only=True when the hub cannot be reached at all, instead
    of huggingface_hub's ~23 s of retries; explained_hub_errors then says if the cache lacks it."""
    from huggingface_hub import constants, is_offline_mode
    if Path(name).exists() or is_offline_mode() or _reachable(constants.ENDPOINT):
        return {}
    return {"local_files_only": True}


def _reachable(endpoint: str) -> bool:
    """One HEAD request, 5 s at most, through huggingface_hub's own client (so HTTPS_PROXY and NO_PROXY count as
    for a download). An answer is remembered for a minute, no answer never: one blip must not keep a kernel offline."""
    from huggingface_hub.utils import get_session
    if time.monotonic() - _answered_at.get(endpoint, float("-inf")) < REMEMBER_REACHABLE_S:
        return True
    try:
        get_session().head(endpoint, timeout=5)
    except Exception:  # no connection, proxy refusal or timeout: httpx's or httpx2's, as the hub version has it
        return False
    _answered_at[endpoint] = time.monotonic()
    return True


@contextmanager
def explained_hub_errors(repo_id: str, kind: str = "model"):
    """Turn a hub failure raised inside the block into one plain NlpbookError; anything else passes unchanged."""
    try:
        yield
    except Exception as error:
        explained = explain_hub_error(error, repo_id, kind)
        if explained is None:
            raise
        raise explained from error


def explain_hub_error(error: BaseException, repo_id: str, kind: str = "model") -> NlpbookError | None:
    """The learner's version of a hub failure (kind "model" or "dataset"), or None when it is not one."""
    from huggingface_hub import is_offline_mode
    from huggingface_hub.errors import (GatedRepoError, HFValidationError, HfHubHTTPError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError)

    chain, todo = [], [error]  # the error and all it was raised from or during, nearest first
    while todo:
        link = todo.pop(0)
        if link is not None and not any(link is seen for seen in chain):
            chain.append(link)
            todo += [link.__cause__, link.__context__]

    def found(*types):
        return next((link for link in chain if isinstance(link, types)), None)

    what_ko, what_en = {"model": ("모델", "model"), "dataset": ("데이터셋", "dataset")}[kind]
    name = f"{what_ko} '{repo_id}'"
    hint_ko, hint_en = "", ""  # after "check the spelling": the course model the name is closest to
    if kind == "model":
        close = difflib.get_close_matches(repo_id, COURSE_MODELS, n=1, cutoff=0.6)
        hint_ko, hint_en = ((f"(혹시 '{close[0]}'?)", f" (did you mean '{close[0]}'?)") if close and close[0] != repo_id
                            else ("(예: 'beomi/kcbert-base')", " (for example 'beomi/kcbert-base')"))
    offline = is_offline_mode()
    unreachable = (LocalEntryNotFoundError, ConnectionError, TimeoutError)
    http_error = found(HfHubHTTPError)
    status = getattr(getattr(http_error, "response", None), "status_code", None)
    for types, ko, en in (  # the first that fits; GatedRepoError subclasses RepositoryNotFoundError, so it comes first
        ((GatedRepoError,), f"{josa(name, '은/는')} 승인을 받아야 쓸 수 있는 저장소(gated)입니다. https://huggingface.co/"
         f"{repo_id} 에서 접근을 요청해 승인받은 뒤, huggingface_hub.login()으로 로그인하고 다시 실행하세요(Colab에서는 "
         "보안 비밀 HF_TOKEN).", f"The {what_en} '{repo_id}' is a gated repository: request access at "
         f"https://huggingface.co/{repo_id}, then log in with huggingface_hub.login() (Colab: the HF_TOKEN secret)."),
        ((RepositoryNotFoundError,), f"Hugging Face 허브에서 {josa(name, '을/를')} 찾을 수 없습니다(없는 이름이거나 비공개 "
         f"저장소). 철자를 확인하세요{hint_ko}. 비공개 저장소라면 huggingface_hub.login()으로 로그인하세요.",
         f"The {what_en} '{repo_id}' was not found on the Hugging Face hub (no such name, or a private repository): "
         f"check the spelling{hint_en}; for a private repository, log in with huggingface_hub.login()."),
        ((HFValidationError,), f"'{repo_id}': 그런 폴더가 없고, 허브 이름('사용자/이름' 형식)으로도 쓸 수 없습니다. 폴더라면 "
         f"경로를, 허브 {josa(what_ko, '이라/라')}면 철자를 확인하세요{hint_ko}.", f"'{repo_id}' is neither an existing "
         f"folder nor a valid hub name ('user/name'): check the path if it is a folder, or the spelling{hint_en}."),
        (unreachable if offline else (), f"오프라인 모드(HF_HUB_OFFLINE=1)라서 허브에서 {josa(name, '을/를')} 받지 않았고, "
         "캐시에도 없습니다. 인터넷이 되는 곳에서 HF_HUB_OFFLINE(또는 TRANSFORMERS_OFFLINE)을 지우고 다시 실행하세요.",
         f"Offline mode (HF_HUB_OFFLINE=1) kept the {what_en} '{repo_id}' from being downloaded, and it is not in the "
         "cache: unset HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) where the internet works and run again."),
        (unreachable, f"Hugging Face 허브에 연결할 수 없어 {josa(name, '을/를')} 받지 못했고, 캐시에도 없습니다. 인터넷 "
         "연결을 확인하고(Colab이라면 런타임이 연결되어 있는지) 잠시 뒤 다시 실행하세요.", "Could not reach the Hugging Face "
         f"hub to download the {what_en} '{repo_id}', and it is not in the cache: check the internet connection (in "
         "Colab, that the runtime is connected) and run again in a moment."),
        ((HfHubHTTPError,), f"Hugging Face 허브가 {name} 요청에 오류로 답했습니다(HTTP {status}). 허브 장애일 수 있으니 잠시 "
         "뒤 다시 실행하세요.", f"The Hugging Face hub answered the request for the {what_en} '{repo_id}' with an error "
         f"(HTTP {status}): it may be down; run again in a few minutes."),
    ):
        if types and found(*types):
            return NlpbookError(ko, en)
    return None
