"""Helpers for the course "문장 쌍 분류 모델 학습하기" (Do it! 자연어 처리): KLUE-NLI with kcbert-base.

One module per step of the chapter: settings, runtime, corpus, features,
model, task, trainer, pipeline (prepare_run, fit), inference; kornli reads
the optional larger corpus (KorNLI, through Korpora). Around them: course
(what the notebooks start from), sample (the offline corpus and tiny model),
checkpoints (what a run keeps, and how a rerun continues it), sampling
(an order of pairs a resumed run repeats), drive_files (replacing files
without filling Drive's Trash), speedups (GPU-only settings and torch.compile), hub
(model folders and plain hub errors), quiet (library noise a learner cannot
act on), errors and cli. After training: model_card (best/README.md), serve
(the model as a web page) and share (push to the Hugging Face Hub). Import what a step needs from its module; nothing
heavy happens at import time.
"""

import os

__version__ = "0.1.0"

# No Hub kernels for any model loaded after this package is imported, the notebooks' own from_pretrained and
# pipeline(...) calls included: transformers 5.25 turned them on by default, and re-kernelizes a model on every
# train()/eval(), which refuses a device the kernels package does not list (a TPU's 'xla'). transformers reads the
# variable inside each from_pretrained, so setting it here, before any model is loaded, is enough; a learner who
# sets it on purpose keeps their choice.
os.environ.setdefault("USE_HUB_KERNELS", "0")
