"""Library messages a learner can do nothing about, silenced one by one, each by its category and words: nothing is
switched off wholesale, so every other warning still shows. Calling it again adds nothing."""

import logging
import re
import warnings

_ANSI_STYLE = re.compile(r"\x1b\[[0-9;]*m")
LIGHTNING_CHATTER = (  # nothing to act on, or said by our own lines already (resuming from which file, the end)
    "Loading `train_dataloader` to estimate number of stepping batches",
    "Restoring states from the checkpoint path at ", "Restored all states from the checkpoint at ",
    "`Trainer.fit` stopped: `max_epochs=", "`Trainer.fit` stopped: `max_steps=")


def quiet_libraries() -> None:
    """Silence torch's `LeafSpec` deprecation (raised in Lightning); Lightning's "few workers" warning (our batches
    are sliced from memory, num_workers=0 on purpose), its litlogger tip, "GPU available" and LIGHTNING_CHATTER;
    torch's "non-deterministic" attention note (02 explains it); the hub's missing-HF_TOKEN warning (all is public);
    transformers' own progress bars (the hub's download bars stay) and its LOAD REPORT when it lists only the new
    `classifier.*` head and unused pretraining weights, as fine-tuning expects (06 explains it).
    """
    from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars
    from transformers.utils import logging as transformers_logging
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", r"`isinstance\(treespec, LeafSpec\)` is deprecated", category)
    for message in (r"The '\w+' does not have many workers which may be a bottleneck",
                    r"(Memory Efficient|Flash) [Aa]ttention defaults to a non-deterministic algorithm",
                    r"\s*The secret `HF_TOKEN` does not exist in your Colab secrets"):
        warnings.filterwarnings("ignore", message, UserWarning)  # Lightning's own class would import all Lightning
    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_not_lightning_chatter)
    logging.getLogger("transformers.modeling_utils").addFilter(_not_an_expected_load_report)
    hub_bars = not are_progress_bars_disabled()
    transformers_logging.disable_progress_bar()  # also turns the hub's bars off ...
    if hub_bars:
        enable_progress_bars()  # ... so they are turned back on


def _not_lightning_chatter(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not (re.search(r"Tip: .*\blitlogger\b", message) or re.match(r"[GTH]PU available: ", message)
                or message.startswith(LIGHTNING_CHATTER))


def _not_an_expected_load_report(record: logging.LogRecord) -> bool:
    text = _ANSI_STYLE.sub("", record.getMessage())
    if "LOAD REPORT" not in text:
        return True
    # The report's table: "key | STATUS | details", under a "Key | Status" header; keys may hold spaces ("{0, 1}").
    rows = [[cell.strip() for cell in line.split("|")] for line in text.splitlines() if "|" in line]
    rows = [(cells[0], cells[1]) for cells in rows if cells[0] != "Key"]
    return not (rows and all(status == "UNEXPECTED" or (status == "MISSING" and key.startswith("classifier."))
                             for key, status in rows))
