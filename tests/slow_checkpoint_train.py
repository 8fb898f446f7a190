"""Test harness: `python -m nlpbook_helpers train ...`, but every save of last.ckpt pauses at a dangerous moment.

The pause gives test_resume.py a window to SIGKILL the run there, as a Colab
disconnect might. PAUSE_AT picks the moment:
- "write" (default): last.ckpt.part is half written, last.ckpt still the previous checkpoint;
- "swap": last.ckpt.part is complete and last.ckpt already emptied, before the rename.
Only the tests use this file.
"""

import os
import sys
import time

import torch

from nlpbook_helpers import cli
from nlpbook_helpers.support import drive_files

PAUSE = 3  # seconds: the window in which the test kills us


def half_then_pause(obj, file, *args, **kwargs):
    real_save(obj, file, *args, **kwargs)
    file.flush()
    file.truncate(file.tell() // 2)  # the bytes on disk are half a checkpoint...
    file.flush()
    time.sleep(PAUSE)  # ...for a while
    file.seek(0)
    file.truncate()
    real_save(obj, file, *args, **kwargs)


def empty_then_pause(new, final):
    if final.name == "last.ckpt":
        drive_files.empty(final)
        time.sleep(PAUSE)
    real_replace_file(new, final)


real_save, real_replace_file = torch.save, drive_files.replace_file
if os.environ.get("PAUSE_AT", "write") == "write":
    torch.save = half_then_pause
else:
    drive_files.replace_file = empty_then_pause  # what drive_files.atomic_write calls
sys.exit(cli.main(sys.argv[1:]))
