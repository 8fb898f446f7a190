"""The floor every step stands on, none of it the book's own code: files, downloads, the hub, errors, logs."""
