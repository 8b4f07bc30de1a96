"""``plateau-train``: train a preset headless, resume a run.

Exit codes: 0 the run finished, 1 training failed (reason printed), 2 bad input (one
``error: …`` line, no traceback), 130 stopped with Ctrl-C (the run directory is complete).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from engine import events as ev
from engine import preset as presets
from engine.checkpoint import CheckpointError
from engine.errors import DataError, TrainingError

SUBCOMMANDS = ("resume", "doctor", "lr-find", "export", "predict")
LATER = {
    "doctor": "the training doctor",
    "lr-find": "the learning-rate finder",
    "export": "exports",
    "predict": "prediction",
}


class BadInput(Exception):
    """Input the user must fix; printed as one ``error:`` line, exit code 2."""


def _train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plateau-train",
        description="Train an image classifier from a Plateau preset, headless.",
        epilog="Other commands: plateau-train resume RUN_DIR. See the README's CLI reference.",
    )
    parser.add_argument("preset", help="preset file (.toml)")
    _common(parser)
    parser.add_argument("--out", default="runs", help="folder for run directories (default ./runs)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a preset key, e.g. --set train.optimizer.lr=0.01 (repeatable)",
    )
    return parser


def _resume_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plateau-train resume",
        description="Continue a stopped or interrupted run from its last checkpoint.",
    )
    parser.add_argument("run_dir", help="the run directory to continue")
    _common(parser)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, help="number of epochs (overrides train.epochs)")
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps")
    parser.add_argument("--json", action="store_true", help="print one JSON object per event")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``plateau-train`` and ``python -m engine``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            command, rest = argv[0], argv[1:]
            if command == "resume":
                return _resume(_parse(_resume_parser(), rest))
            raise BadInput(f"'{command}' ({LATER[command]}) is not available in this version yet")
        return _train(_parse(_train_parser(), argv))
    except (BadInput, presets.PresetError, DataError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TrainingError as exc:
        print(f"training failed: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage and the reason
        if exc.code == 0:
            raise
        raise SystemExit(2) from None


def _overrides(args: argparse.Namespace) -> dict:
    changes = presets.parse_overrides(getattr(args, "overrides", []))
    if args.epochs is not None:
        changes["train.epochs"] = args.epochs
    if args.device is not None:
        changes["train.device"] = args.device
    return changes


def _train(args: argparse.Namespace) -> int:
    preset = presets.load(args.preset, _overrides(args))
    return _run(preset, args, out=args.out)


def _resume(args: argparse.Namespace) -> int:
    from engine.runs import RunFiles

    run_dir = Path(args.run_dir)
    files = RunFiles(run_dir)
    if not (run_dir / "preset.toml").is_file():
        raise BadInput(f"{run_dir} is not a run directory (no preset.toml in it)")
    if not files.last_checkpoint.is_file():
        raise BadInput(f"{run_dir} has no checkpoints/last.pt to resume from")
    preset = files.read_preset().with_changes(_overrides(args))
    return _run(preset, args, resume_dir=run_dir)


def _run(preset: presets.Preset, args: argparse.Namespace, out="runs", resume_dir=None) -> int:
    from engine.trainer import RunControl, Trainer

    control = RunControl()
    previous = signal.signal(signal.SIGINT, lambda *_: control.stop())
    printer = JsonPrinter() if args.json else ProgressPrinter()
    try:
        summary = Trainer(preset, out=out, control=control, resume_dir=resume_dir).fit(printer)
    finally:
        signal.signal(signal.SIGINT, previous)
        printer.close()
    status = summary["status"]
    if status == "failed":
        if not args.json:
            print(f"training failed: {summary.get('error')}", file=sys.stderr)
            if summary.get("hint"):
                print(f"hint: {summary['hint']}", file=sys.stderr)
        return 1
    return 130 if status == "stopped" else 0


class JsonPrinter:
    """Prints every event as one JSON line on stdout."""

    def __call__(self, event: ev.Event) -> None:
        print(json.dumps(ev.to_json(event)), flush=True)

    def close(self) -> None:
        pass


class ProgressPrinter:
    """A tqdm bar per epoch with the running loss, a line per epoch, the run directory at the
    end."""

    def __init__(self) -> None:
        self.bar = None
        self.epochs = 0

    def __call__(self, event: ev.Event) -> None:
        from tqdm import tqdm

        if isinstance(event, ev.RunStarted):
            self.epochs = event.preset["train"]["epochs"]
            params = event.model_summary["total_params"]
            counts = event.data_stats["train_counts"]
            print(
                f"{event.preset['name']}: {event.preset['model']['arch']} "
                f"({params:,} parameters) on {event.device}; {sum(counts)} training / "
                f"{sum(event.data_stats['val_counts'])} validation images, "
                f"{len(counts)} classes",
                flush=True,
            )
            print(f"run directory: {event.run_dir}", flush=True)
        elif isinstance(event, ev.BatchEnd):
            if self.bar is None:
                self.bar = tqdm(
                    total=event.batches,
                    desc=f"epoch {event.epoch}/{self.epochs}",
                    unit="batch",
                    leave=False,
                    dynamic_ncols=True,
                )
            self.bar.set_postfix(loss=f"{event.loss:.4f}", lr=f"{event.lr:.2g}", refresh=False)
            self.bar.update(event.batch - self.bar.n)
        elif isinstance(event, ev.EpochEnd):
            self._close_bar()
            m = event.metrics
            tqdm.write(
                f"epoch {m['epoch']:>3}/{self.epochs}  train loss {m['train_loss']:.4f} "
                f"acc {m['train_acc']:.4f}  val loss {m['val_loss']:.4f} acc {m['val_acc']:.4f}  "
                f"lr {m['lr']:.3g}  {m['seconds']:.1f}s  {m['samples_per_s']:,.0f} samples/s"
            )
        elif isinstance(event, (ev.RunFinished, ev.RunStopped, ev.RunFailed)):
            self._close_bar()
            s = event.summary
            word = {ev.RunFinished: "finished", ev.RunStopped: "stopped", ev.RunFailed: "failed"}
            best = s.get("best_val_acc")
            best_text = f", best val acc {best:.4f} (epoch {s['best_epoch']})" if best else ""
            print(f"{word[type(event)]} after {s['epochs_completed']} epochs{best_text}")
            print(f"run directory: {s['run_dir']}", flush=True)

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self._close_bar()
