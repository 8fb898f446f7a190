"""`[nlpbook] ...` lines on stdout on every runtime (book: code 3-5, silent without CUDA); free of torch."""

import logging
import sys


class _TqdmHandler(logging.Handler):
    """Print through tqdm.write, so a log line never lands in the middle of a progress bar."""

    def emit(self, record):
        from tqdm.auto import tqdm
        tqdm.write(self.format(record), file=sys.stdout)


def get_logger() -> logging.Logger:
    logger = logging.getLogger("nlpbook")
    if not logger.handlers:
        handler = _TqdmHandler()
        handler.setFormatter(logging.Formatter("[nlpbook] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
