"""What a run keeps in its output folder, and how a rerun continues it (README.md says what each module holds)."""
