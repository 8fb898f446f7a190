"""Test harness: `python -m nlpbook_helpers train ...`, but every checkpoint write pauses halfway.

The pause gives test_resume.py a window to SIGKILL the run in the middle of
writing last.ckpt, as a Colab disconnect might. Only the test uses this file.
"""

import sys
import time

import torch

from nlpbook_helpers import cli, trainer

real_save = torch.save


def half_then_pause(obj, file, *args, **kwargs):
    real_save(obj, file, *args, **kwargs)
    file.flush()
    file.truncate(file.tell() // 2)  # the bytes on disk are half a checkpoint...
    file.flush()
    time.sleep(3)  # ...for a while, the window in which the test kills us
    file.seek(0)
    file.truncate()
    real_save(obj, file, *args, **kwargs)


trainer.torch.save = half_then_pause
sys.exit(cli.main(sys.argv[1:]))
