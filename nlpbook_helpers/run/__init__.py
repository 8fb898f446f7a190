"""What a run keeps in its output folder and how a rerun continues it: checkpoints (last.ckpt), best_model
(metrics.json, best/, its card), run_lock (one run per folder), sampling (a repeatable order), rerun (the fit again)."""
