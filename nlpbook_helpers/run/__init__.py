"""What a run keeps in its output folder, and how a rerun continues it: checkpoints (last.ckpt and the resume check),
best_model (metrics.json, best/ and its card), run_lock (one run per folder), sampling (an order of pairs a resumed
run repeats) and rerun (the fit cell run again in the same kernel)."""
