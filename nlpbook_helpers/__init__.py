"""Helpers for the course "문장 쌍 분류 모델 학습하기" (Do it! 자연어 처리): KLUE-NLI with kcbert-base.

In front, one module per step of the chapter, the ones a lesson imports: settings (code 3-3), runtime (3-2, 3-4,
3-5), corpus (3-6, 3-8), features (3-7 to 3-10), model (3-11), task (3-12), trainer (3-13, 3-14), pipeline (the
steps in two functions), inference; course, sample and cli. Behind them, one wing per concern, which a lesson never
needs to open: run/ (a run's output folder and reruns), corpora/ (the registry and KorNLI), sharing/ (the model as
a web page and on the Hub) and support/ (downloads, hub errors, Drive-safe files, logging and the like).
Nothing heavy happens at import time.
"""

import os

__version__ = "0.1.0"

# No Hub kernels for any model loaded after this import, the notebooks' own from_pretrained included: transformers
# 5.25 turned them on by default and re-kernelizes on every train()/eval(), refusing a device the kernels package
# does not list (a TPU's 'xla'). It reads the variable in each from_pretrained; a learner's own choice is kept.
os.environ.setdefault("USE_HUB_KERNELS", "0")

from .support.errors import NlpbookError  # noqa: E402  (the one exception a learner reads; lessons import it here)
__all__ = ["NlpbookError", "__version__"]
