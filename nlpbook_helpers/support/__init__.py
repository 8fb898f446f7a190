"""The floor every step stands on, none of it the book's own code.

download (fetch and verify), hub (model folders and plain hub errors),
drive_files (replacing files without filling Drive's Trash), quiet (library
noise a learner cannot act on), log, errors, library_errors (which release
broke a cell), speedups (GPU-only settings and torch.compile) and korean
(particles that fit the word before them).
"""
