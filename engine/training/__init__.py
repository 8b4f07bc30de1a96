"""The rooms of a training run. :class:`engine.trainer.Trainer` reads as the outline of a run and
uses them: ``assembly`` (model, optimizer, loss, AMP, compile, DDP from a preset), ``epoch`` (one
epoch of training steps), ``validation``, ``progress`` (best epochs, early stopping, the
summary), ``checkpoint_state`` (what a checkpoint holds and how a run resumes from it)."""
