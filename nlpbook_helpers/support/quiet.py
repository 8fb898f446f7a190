"""Library messages a learner can do nothing about, silenced one by one.

A learner should see only what they can act on: our log lines, the progress
bar, and real problems. Each filter here names one message by its category
and its words; nothing is switched off wholesale, so any other warning or
error still shows.
"""

import logging
import re
import warnings


def quiet_libraries() -> None:
    """Silence the library messages a learner can do nothing about, each by its category and its words.

    - Lightning's "Tip" advertising litlogger (an info line, Lightning 2.6).
    - torch's warning that `LeafSpec` is deprecated, triggered inside Lightning's own code
      (FutureWarning in recent torch; DeprecationWarning is filtered too, in case a version uses it).
    - Lightning's PossibleUserWarning that few DataLoader workers "may be a bottleneck" (on GPU
      machines with many cores): our loaders use num_workers=0 on purpose, because a batch is
      sliced from tensors already in memory, and worker processes would only add start-up time.
    - torch's UserWarning, once per run on a GPU, that the memory-efficient (T4) or flash attention
      "defaults to a non-deterministic algorithm": the Trainer asks for deterministic kernels with
      "warn" (trainer.py), and attention's backward cannot oblige: its sums come out in a varying
      order, so a GPU run may differ from a rerun in the last decimals (02 says so). Text as in torch 2.11.
    - huggingface_hub's UserWarning that Colab has no `HF_TOKEN` secret (older versions; newer
      ones log it at info level): the course's models and data are public.
    - Lightning's "GPU available / TPU available / HPU available" lines: the run's first log line
      already names the device and the precision, with the reason. Also its "Loading `train_dataloader`
      to estimate number of stepping batches": the schedule asking for its length, nothing to act on.
    - Lightning's "Restoring states from the checkpoint path at ..." and "Restored all states ..." on
      a rerun: our own line already says the run resumes, and from which file. Likewise its
      "`Trainer.fit` stopped: `max_epochs=N` reached." (or max_steps) at the end: the last "에폭 N:" line
      says it, and a finished run fitted again gets our "이미 끝났습니다" line.
    - transformers' own progress bars ("Loading weights", "Writing model shards"): over in a
      moment, and printed on stderr by every predict and evaluate. The hub's download bars stay:
      a 400 MB model takes a while to arrive.
    - transformers' LOAD REPORT when all it lists is the new classification head (missing
      `classifier.*`) and unused pretraining weights (unexpected): exactly what fine-tuning
      expects. Notebook 06 shows it and explains it. Any other report, such as missing encoder
      weights or mismatched shapes, still prints.
    Errors and every other warning still show. Calling this again adds nothing.
    """
    from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars
    from transformers.utils import logging as transformers_logging

    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", r"`isinstance\(treespec, LeafSpec\)` is deprecated", category)
    # Lightning's by its parent class (its PossibleUserWarning is a UserWarning): `predict` and `serve`
    # call this, and importing Lightning's warning class would import all of Lightning.
    warnings.filterwarnings("ignore", r"The '\w+' does not have many workers which may be a bottleneck", UserWarning)
    warnings.filterwarnings("ignore", r"(Memory Efficient|Flash) [Aa]ttention defaults to a non-deterministic algorithm",
                            UserWarning)
    warnings.filterwarnings("ignore", r"\s*The secret `HF_TOKEN` does not exist in your Colab secrets", UserWarning)
    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_not_lightning_chatter)
    logging.getLogger("transformers.modeling_utils").addFilter(_not_an_expected_load_report)
    hub_bars = not are_progress_bars_disabled()
    transformers_logging.disable_progress_bar()  # also turns the hub's bars off ...
    if hub_bars:
        enable_progress_bars()  # ... so they are turned back on


def _not_lightning_chatter(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not (re.search(r"Tip: .*\blitlogger\b", message) or re.match(r"[GTH]PU available: ", message)
                or message.startswith(("Loading `train_dataloader` to estimate number of stepping batches",
                                       "Restoring states from the checkpoint path at ",
                                       "Restored all states from the checkpoint at ",
                                       "`Trainer.fit` stopped: `max_epochs=", "`Trainer.fit` stopped: `max_steps=")))


_ANSI_STYLE = re.compile(r"\x1b\[[0-9;]*m")


def _not_an_expected_load_report(record: logging.LogRecord) -> bool:
    text = _ANSI_STYLE.sub("", record.getMessage())
    if "LOAD REPORT" not in text:
        return True
    # The report's table: "key | STATUS | details", under a "Key | Status" header; keys may hold spaces ("{0, 1}").
    rows = [[cell.strip() for cell in line.split("|")] for line in text.splitlines() if "|" in line]
    rows = [(cells[0], cells[1]) for cells in rows if cells[0] != "Key"]
    expected = bool(rows) and all(
        status == "UNEXPECTED" or (status == "MISSING" and key.startswith("classifier.")) for key, status in rows
    )
    return not expected
