"""Helpers for the course "문장 쌍 분류 모델 학습하기" (Do it! 자연어 처리): KLUE-NLI with kcbert-base.

In front, one module per step of the chapter, the ones a lesson imports:
settings (code 3-3), runtime (3-2, 3-4, 3-5), corpus (3-6, 3-8), features
(3-7 to 3-10), model (3-11), task (3-12), trainer (3-13, 3-14), pipeline
(the steps in two functions), inference; course (what the notebooks start
from), sample (the offline corpus and tiny model) and cli.

Behind them, one wing per concern, which a lesson never needs to open:
- run/: what a run keeps in its output folder and how a rerun continues it
  (checkpoints, best_model, model_card, run_lock, sampling, rerun);
- corpora/: the corpus registry and KorNLI;
- sharing/: the trained model as a web page (serve) and on the Hub (share);
- support/: downloads, model folders and hub errors, Drive-safe files,
  quiet libraries, the logger, errors, library-error notes, GPU speed-ups
  and Korean particles.
Nothing heavy happens at import time.
"""

import os

__version__ = "0.1.0"

# No Hub kernels for any model loaded after this package is imported, the notebooks' own from_pretrained and
# pipeline(...) calls included: transformers 5.25 turned them on by default, and re-kernelizes a model on every
# train()/eval(), which refuses a device the kernels package does not list (a TPU's 'xla'). transformers reads the
# variable inside each from_pretrained, so setting it here, before any model is loaded, is enough; a learner who
# sets it on purpose keeps their choice.
os.environ.setdefault("USE_HUB_KERNELS", "0")

from .support.errors import NlpbookError  # noqa: E402  (the one exception a learner reads; lessons import it here)
