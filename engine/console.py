"""What ``plateau-train`` prints: a progress bar and a line per epoch, JSON event lines, or the
doctor's findings."""

from __future__ import annotations

import json
import sys

from engine import events as ev
from engine.wording import count, skipped_files


def print_findings(findings: list[dict], as_json: bool) -> None:
    """Findings as JSON, or as text with each fix written as ``--set`` options."""
    if as_json:
        print(json.dumps(findings, indent=2))
        return
    if not findings:
        print("doctor: no findings — nothing holds this run back that the doctor can see.")
        return
    for f in findings:
        print(f"{f['severity']:<8} {f['id']}: {f['title']}")
        print(f"         {f['evidence']}")
        if f["fix"]:
            sets = " ".join(f"--set {k}={_toml_value(v)}" for k, v in f["fix"]["set"].items())
            print(f"         fix: {sets}")
        elif f.get("advice"):
            print(f"         advice: {f['advice']}")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) if value else "[]"
    return str(value)


def ending(event: ev.RunFinished | ev.RunStopped | ev.RunFailed) -> str:
    """How a run ended, in one sentence: finished, stopped early (why, and which epoch's weights
    ``best.pt`` holds), stopped, or failed."""
    s = event.summary
    done, planned = s.epochs_completed, s.epochs_planned
    best_text = (
        f"; best.pt holds epoch {s.best_epoch} (best validation accuracy {s.best_val_acc:.4f})"
        if s.best_val_acc is not None and s.best_epoch
        else ""
    )
    if s.early_stopped:
        why = f"validation loss did not improve for {count(s.early_stopping_patience, 'epoch')}"
        if s.best_val_loss_epoch:
            why += f" after its best ({s.best_val_loss:.4g} at epoch {s.best_val_loss_epoch})"
        return f"stopped early after {done} of {count(planned, 'epoch')}: {why}{best_text}"
    if isinstance(event, ev.RunFinished):
        return f"finished after {count(done, 'epoch')}{best_text}"
    if isinstance(event, ev.RunStopped) and not s.run_dir:
        return "stopped before the run began (what was decoded is kept in the cache); no run"
    if isinstance(event, ev.RunStopped):
        return f"stopped after {done} of {count(planned, 'epoch')} (resumable){best_text}"
    return f"failed after {count(done, 'epoch')}{best_text}"


def data_lines(stats: dict) -> list[str]:
    """What a person should know about the data before the first epoch: where the images came
    from (the cache), what was skipped, and the notes (image size chosen, duplicates, …)."""
    lines = []
    cache = stats.get("cache", "off")
    if cache != "off":
        word = {"built": "decoded into", "updated": "updated in", "hit": "read from"}[cache]
        lines.append(
            f"images: {stats['images']:,} {word} the cache in {stats.get('load_seconds', 0):.1f} s "
            f"({stats.get('cache_location', '')})"
        )
    skipped = skipped_files(stats.get("skipped", []))
    if skipped:
        lines.append(skipped)
    lines += [f"note: {note}" for note in stats.get("notes", [])]
    return lines


def speed_line(speed: dict) -> str:
    """What a run trains with for speed, and why ``auto`` chose it (``RunStarted.speed``)."""
    reasons = "; ".join(speed.get("reasons", []))
    return f"speed: {speed.get('summary', '')} — {reasons}"


def compiling_line(event: ev.Compiling) -> str:
    """A line for each stage of a compiled run's first step."""
    if event.stage == "compiling":
        cache = f", cached in {event.cache_dir}" if event.cache_dir else ""
        return (
            f"compiling (first epoch): torch.compile, mode {event.mode} — paid once{cache}; "
            "later runs of this model and shapes start faster"
        )
    if event.stage == "compiled":
        return f"compiled in {event.seconds:.1f} s"
    return f"warning: {event.message}"


class JsonPrinter:
    """Prints every event as one JSON line on stdout."""

    def __call__(self, event: ev.Event) -> None:
        print(json.dumps(ev.to_json(event)), flush=True)

    def close(self) -> None:
        pass


class ProgressPrinter:
    """A tqdm bar per epoch with the running loss, a line per epoch, the run directory at the
    end."""

    def __init__(self, stream=None) -> None:
        self.bar = None
        self.epochs = 0
        self.batches = 0
        self.run_dir = ""
        self.reported: set[str] = set()
        self.preparing = ""
        self.stream = stream or sys.stdout
        # a bar redraws itself with carriage returns: on a terminal only, never into a log
        self.bars = sys.stderr.isatty()

    def __call__(self, event: ev.Event) -> None:
        from tqdm import tqdm

        if isinstance(event, ev.Preparing):
            self._preparing(event)
        elif isinstance(event, ev.RunStarted):
            self._close_bar()
            self.epochs = event.preset["train"]["epochs"]
            params = event.model_summary["total_params"]
            counts = event.data_stats["train_counts"]
            print(
                f"{event.preset['name']}: {event.preset['model']['arch']} "
                f"({params:,} parameters) on {event.device}; {sum(counts)} training / "
                f"{sum(event.data_stats['val_counts'])} validation images, "
                f"{len(counts)} classes",
                flush=True,
                file=self.stream,
            )
            notes = event.model_summary.get("notes", [])
            for line in data_lines(event.data_stats) + [f"note: {n}" for n in notes]:
                print(line, flush=True, file=self.stream)
            if event.speed:
                print(speed_line(event.speed), flush=True, file=self.stream)
            print(f"run directory: {event.run_dir}", flush=True, file=self.stream)
            self.batches, self.run_dir = event.steps_per_epoch, event.run_dir
            if event.start_epoch < self.epochs:
                self._open_bar(event.start_epoch + 1, self.batches)
        elif isinstance(event, ev.Compiling):
            tqdm.write(compiling_line(event), file=self.stream)
        elif isinstance(event, ev.BatchEnd):
            if self.bar is None:
                self._open_bar(event.epoch, event.batches)
            if self.bar is None:
                return
            self.bar.set_postfix(
                loss=f"{event.loss:.4f}",
                acc=f"{event.acc:.3f}",
                lr=f"{event.lr:.2g}",
                refresh=False,
            )
            self.bar.update(event.batch - self.bar.n)
        elif isinstance(event, ev.EpochEnd):
            self._close_bar()
            m = event.metrics
            tqdm.write(
                f"epoch {m.epoch:>3}/{self.epochs}  train loss {m.train_loss:.4f} "
                f"acc {m.train_acc:.4f}  val loss {m.val_loss:.4f} acc {m.val_acc:.4f}  "
                f"lr {m.lr:.3g}  {m.seconds:.1f}s  {m.samples_per_s:,.0f} samples/s",
                file=self.stream,
            )
            if m.epoch < self.epochs:
                self._open_bar(m.epoch + 1, self.batches)
        elif isinstance(event, ev.Diagnosis):
            for f in event.findings:
                if f["id"] not in self.reported:
                    self.reported.add(f["id"])
                    tqdm.write(
                        f"doctor: {f['severity']} {f['id']}: {f['title']} — "
                        f"see 'plateau-train doctor {self.run_dir or 'RUN_DIR'}'",
                        file=self.stream,
                    )
        elif isinstance(event, (ev.RunFinished, ev.RunStopped, ev.RunFailed)):
            self._close_bar()
            print(ending(event), flush=True, file=self.stream)
            if event.summary.run_dir:
                print(f"run directory: {event.summary.run_dir}", flush=True, file=self.stream)

    def _preparing(self, event: ev.Preparing) -> None:
        """A bar while a folder's images are decoded (a line at its start and end off a
        terminal)."""
        from tqdm import tqdm

        if not event.total:  # waiting for another process
            if self.preparing != event.what:
                print(f"{event.what} …", flush=True, file=self.stream)
                self.preparing = event.what
            return
        if self.preparing != event.what:
            self.preparing = event.what
            if self.bars:
                self._close_bar()
                self.bar = tqdm(
                    total=event.total,
                    desc=event.what,
                    unit="image",
                    leave=False,
                    dynamic_ncols=True,
                    mininterval=0,
                    file=sys.stderr,
                )
            else:
                print(f"{event.what}: {count(event.total, 'file')} …", flush=True, file=self.stream)
        if self.bar is not None:
            self.bar.update(event.done - self.bar.n)

    def _open_bar(self, epoch: int, batches: int) -> None:
        """A bar per epoch, opened when the epoch starts so its rate is right."""
        from tqdm import tqdm

        if not self.bars:
            return
        self.bar = tqdm(
            total=batches,
            desc=f"epoch {epoch}/{self.epochs}",
            unit="batch",
            leave=False,
            dynamic_ncols=True,
            mininterval=0,  # events already come at most 20 times a second
            file=sys.stderr,
        )

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self._close_bar()
