"""The floor every step stands on, none of it the book's own code: download, hub (model folders and hub errors),
drive_files (files written and replaced without filling Drive's Trash), quiet (library noise), log, errors,
library_errors (which release broke a cell), speedups (GPU-only) and korean (particles that fit the word before)."""
