"""The training "system": the model, its steps, the optimizer and its schedule (book: code 3-12).

"faithful" is what the book ran: its ExponentialLR, returned as "scheduler", not "lr_scheduler", was never stepped
(a constant 5e-5). "recommended" (default): a linear warmup over 10% of the steps, a linear decay to 0 (KLUE's recipe).
"""

import pytorch_lightning as pl
import torch
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score
from transformers import get_linear_schedule_with_warmup

from .corpus import LABELS

WARMUP_RATIO = 0.1


class NliTask(pl.LightningModule):
    def __init__(self, model, learning_rate: float = 5e-5, schedule: str = "recommended"):
        super().__init__()
        self.model = model.train()  # from_pretrained gives eval mode, which Lightning 2 keeps: dropout would be off
        self.learning_rate = learning_rate
        self.schedule = schedule
        # Scores accumulate over the dev set's batches; our labels are valid ids, so no per-batch checks (a sync each)
        self.val_acc = MulticlassAccuracy(num_classes=len(LABELS), average="micro", validate_args=False)
        self.val_f1 = MulticlassF1Score(num_classes=len(LABELS), average="macro", validate_args=False)

    def training_step(self, batch, batch_idx):
        output = self.model(**batch)
        # The log file and the progress bar are written every log_every_n_steps (10) steps: log on those steps only.
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            accuracy = (output.logits.argmax(-1) == batch["labels"]).float().mean()
            self.log_dict({"train_loss": output.loss, "train_acc": accuracy}, prog_bar=True)
            self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"])
        return output.loss

    def validation_step(self, batch, batch_idx):
        output = self.model(**batch)
        predictions = output.logits.argmax(-1)
        self.val_acc(predictions, batch["labels"])
        self.val_f1(predictions, batch["labels"])
        self.log("val_loss", output.loss, prog_bar=True, sync_dist=True)
        self.log("val_acc", self.val_acc, prog_bar=True)
        self.log("val_f1", self.val_f1)

    def configure_optimizers(self):
        fused = self.device.type in ("cuda", "cpu")  # one kernel for all the weights; a TPU has no such kernel
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.learning_rate, eps=1e-6, weight_decay=0.0, fused=fused)
        if self.schedule == "faithful":
            return optimizer
        total = self.trainer.estimated_stepping_batches
        scheduler = get_linear_schedule_with_warmup(optimizer, int(WARMUP_RATIO * total), total)
        # "interval": "step" moves the lr every batch; Lightning's default is once per epoch.
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
