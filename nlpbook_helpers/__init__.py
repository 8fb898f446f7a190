"""Helpers for the course "문장 쌍 분류 모델 학습하기" (Do it! 자연어 처리): KLUE-NLI with kcbert-base.

In front, one module per step of the chapter (the ones a lesson imports); behind them, one wing per concern that a
lesson never needs to open: run/, corpora/, sharing/, support/ (README.md lists both levels). Nothing heavy on import.
"""

import os

__version__ = "0.1.0"

# No Hub kernels for any model loaded after this import, the notebooks' own from_pretrained included: transformers
# 5.25 turned them on by default and re-kernelizes on every train()/eval(), refusing a device the kernels package
# does not list (a TPU's 'xla'). It reads the variable in each from_pretrained; a learner's own choice is kept.
os.environ.setdefault("USE_HUB_KERNELS", "0")

from .support.errors import NlpbookError  # noqa: E402  (the one exception a learner reads; lessons import it here)
__all__ = ["NlpbookError", "__version__"]
