"""``plateau-train``: train a preset headless, resume a run.

Exit codes: 0 the run finished, 1 training failed (reason printed), 2 bad input (one
``error: …`` line, no traceback), 130 stopped with Ctrl-C (the run directory is complete).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from pathlib import Path

from engine import preset as presets
from engine.console import JsonPrinter, ProgressPrinter, print_findings
from engine.errors import CheckpointError, DataError

SUBCOMMANDS = ("resume", "doctor", "lr-find", "export", "predict")


class BadInput(Exception):
    """Input the user must fix; printed as one ``error:`` line, exit code 2."""


def _train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plateau-train",
        description="Train an image classifier from a Plateau preset, headless.",
        epilog="Other commands: resume RUN_DIR, doctor PRESET|RUN_DIR, lr-find PRESET, "
        "export CHECKPOINT, predict CHECKPOINT IMAGE... (each with --help).",
    )
    parser.add_argument("preset", help="preset file (.toml)")
    _common(parser)
    parser.add_argument("--out", default="runs", help="folder for run directories (default ./runs)")
    _overrides_option(parser)
    return parser


def _resume_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plateau-train resume",
        description="Continue a stopped or interrupted run from its last checkpoint.",
    )
    parser.add_argument("run_dir", help="the run directory to continue")
    _common(parser)
    return parser


def _doctor_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plateau-train doctor",
        description="Say what holds accuracy back: re-diagnose a run directory, or train a "
        "preset (use --epochs to shorten) and diagnose it.",
    )
    parser.add_argument("target", help="a run directory or a preset file (.toml)")
    _common(parser)
    _overrides_option(parser)
    parser.add_argument("--out", default="runs", help="where a preset's run goes (default ./runs)")
    return parser


def _lr_find_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plateau-train lr-find",
        description="Learning-rate range test: sweep 1e-7 → 10 and suggest a learning rate.",
    )
    parser.add_argument("preset", help="preset file (.toml)")
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    _overrides_option(parser)
    return parser


def _export_parser() -> argparse.ArgumentParser:
    from engine.export_formats import FORMATS

    parser = argparse.ArgumentParser(
        prog="plateau-train export",
        description="Export a checkpoint's model and verify the written file against it.",
    )
    parser.add_argument("checkpoint", help="e.g. runs/NAME/checkpoints/best.pt")
    parser.add_argument(
        "--format",
        choices=list(FORMATS),
        help="pt (a state dict with Plateau's metadata), safetensors, torchscript or onnx; "
        "default: what the --out file name ends in (.pt, .safetensors, .ts.pt, .onnx), else pt",
    )
    parser.add_argument(
        "--out", help="destination file or folder (default: RUN/exports/RUN-best.pt and so on)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _predict_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plateau-train predict",
        description="Classify images with a checkpoint or any exported model "
        "(.pt, .safetensors, .ts.pt, .onnx). Unreadable images get an 'error:' line and exit "
        "code 2; the others are still classified.",
    )
    parser.add_argument(
        "checkpoint", help="a run's checkpoint (RUN/checkpoints/best.pt) or an exported model"
    )
    parser.add_argument("images", nargs="+", help="image files (any format PIL reads)")
    parser.add_argument("--top", type=int, default=3, help="classes to show per image (default: 3)")
    parser.add_argument("--json", action="store_true", help="one JSON object per image")
    return parser


def _export(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from engine.export import ExportError, export

    fmt = _export_format(args.format, args.out)
    try:
        report = export(args.checkpoint, args.out, fmt)
    except ExportError as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({**asdict(report), "ok": report.ok}) if args.json else report.describe())
    return 0


def _export_format(asked: str | None, out: str | None) -> str:
    """``--format``, else what the ``--out`` file name says; a name that says another format
    than the one asked for is refused (a PyTorch file named .onnx reads as no ONNX model)."""
    from engine.export_formats import SUFFIX, format_of

    named = format_of(out) if out and not out.endswith(("/", os.sep)) else None
    if asked and named and named != asked:
        raise BadInput(
            f"--out {out} names a {named} file but --format {asked} writes {SUFFIX[asked]}; "
            f"use --format {named}, or a file name ending in {SUFFIX[asked]}"
        )
    return asked or named or "pt"


def _predict(args: argparse.Namespace) -> int:
    from engine.predict import predict

    if args.top < 1:
        raise BadInput(f"--top {args.top}: expected 1 or more")
    results = predict(args.checkpoint, args.images, args.top)
    if args.json:
        print(json.dumps(results))
    for r in results:
        if "error" in r:
            print(f"error: {r['error']}", file=sys.stderr)
        elif not args.json:
            ranked = "  ".join(f"{t['class']} {t['probability']:.3f}" for t in r["top"])
            print(f"{r['image']}: {ranked}")
    return 2 if any("error" in r for r in results) else 0


def _overrides_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a preset key, e.g. --set train.optimizer.lr=0.01 (repeatable)",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--epochs",
        type=int,
        help="epochs in all (overrides train.epochs; a resumed run trains on up to this many)",
    )
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps")
    parser.add_argument("--json", action="store_true", help="print one JSON object per event")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``plateau-train`` and ``python -m engine``."""
    code = _main(list(sys.argv[1:] if argv is None else argv))
    if os.environ.get(EXIT_FILE) and os.environ.get("RANK") == "0":
        try:
            Path(os.environ[EXIT_FILE]).write_text(str(code))
        except OSError:
            pass
    return code


def _main(argv: list[str]) -> int:
    try:
        if argv and argv[0] in SUBCOMMANDS:
            command, rest = argv[0], argv[1:]
            if command == "resume":
                return _resume(_parse(_resume_parser(), rest))
            if command == "doctor":
                return _doctor(_parse(_doctor_parser(), rest))
            if command == "lr-find":
                return _lr_find(_parse(_lr_find_parser(), rest))
            if command == "export":
                return _export(_parse(_export_parser(), rest))
            return _predict(_parse(_predict_parser(), rest))
        return _train(_parse(_train_parser(), argv))
    except (BadInput, presets.PresetError, DataError, CheckpointError) as exc:
        if _speaks():  # every process finds the same bad input: said once
            print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a failure outside a run: reason and hint
        from engine.failures import BUG_HINT, explain

        message, hint = explain(exc)
        if hint == BUG_HINT:
            traceback.print_exc()
            hint = "this looks like a bug in Plateau or a library; report it with the traceback"
        rank = "" if _speaks() else f"[process {os.environ['RANK']}] "  # its own failure
        print(f"{rank}training failed: {message}", file=sys.stderr)
        print(f"{rank}hint: {hint}", file=sys.stderr)
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
    return _run(preset, args, out=args.out)[0]


def _resume(args: argparse.Namespace) -> int:
    from engine.runs import RunFiles

    run_dir = Path(args.run_dir)
    files = RunFiles(run_dir)
    if not run_dir.exists():
        raise BadInput(f"{run_dir} does not exist; give a run directory (under runs/)")
    if not (run_dir / "preset.toml").is_file():
        raise BadInput(f"{run_dir} is not a run directory (no preset.toml in it)")
    if not files.last_checkpoint.is_file():
        raise BadInput(f"{run_dir} has no checkpoints/last.pt to resume from")
    preset = files.read_preset().with_changes(_overrides(args))
    return _run(preset, args, resume_dir=run_dir)[0]


def _doctor(args: argparse.Namespace) -> int:
    from engine.doctor import diagnose_run

    target = Path(args.target)
    if target.is_dir():
        if not (target / "preset.toml").is_file():
            raise BadInput(f"{target} is not a run directory (no preset.toml in it)")
        findings = [f.to_dict() for f in diagnose_run(target)]
        code = 0
    else:
        preset = presets.load(target, _overrides(args))
        code, run_dir = _run(preset, args, out=args.out, quiet_json=True)
        if run_dir is None or os.environ.get("RANK", "0") != "0":
            return code  # relaunched under torchrun: rank 0 prints the findings
        findings = [f.to_dict() for f in diagnose_run(run_dir)]
    print_findings(findings, args.json)
    return code


def _lr_find(args: argparse.Namespace) -> int:
    from engine.doctor.lr_finder import find_lr

    preset = presets.load(args.preset, _overrides(args))
    result = find_lr(preset)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    for lr, loss in list(zip(result.lrs, result.losses, strict=True))[
        :: max(1, len(result.lrs) // 20)
    ]:
        print(f"lr {lr:9.2e}  loss {loss:.4f}")
    print(f"suggested learning rate (valley): {result.suggestion:.3g}")
    if result.warning:
        print(f"warning: {result.warning}")
    print(f"steepest descent at: {result.steepest:.3g}")
    print(f"use it: --set train.optimizer.lr={result.suggestion:.3g}")
    return 0


# torchrun, quiet: a worker that fails or is stopped says why itself (its one error line, its
# ending); torchrun's own log lines and traceback of the same would bury that
TORCHRUN = """
import logging, sys
from torch.distributed.run import main
logging.getLogger("torch.distributed").setLevel(logging.CRITICAL)
try:
    main(sys.argv[1:])
except BaseException:
    sys.exit(1)
"""
EXIT_FILE = "PLATEAU_EXIT_FILE"  # where rank 0 leaves its exit code for the launching process


def _relaunch_under_torchrun(processes: int) -> int:
    """Run this same command as ``torchrun --standalone --nproc_per_node N -m engine …``; its
    exit code is the first process's (2 bad input, 130 stopped, …), as for one process."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="plateau-") as folder:
        exit_file = Path(folder) / "exit-code"
        cmd = [
            sys.executable,
            "-c",
            TORCHRUN,
            "--standalone",
            f"--nproc_per_node={processes}",
            "-m",
            "engine",
            *sys.argv[1:],
        ]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "LOGLEVEL": "CRITICAL"}
        proc = subprocess.Popen(cmd, env={**env, EXIT_FILE: str(exit_file)})
        try:
            code = proc.wait()
        except KeyboardInterrupt:  # torchrun passes the interrupt on to its workers
            code = proc.wait()
        try:
            return int(exit_file.read_text())
        except (OSError, ValueError):
            pass
        if code:  # the first process was ended before it could say how (another one failed)
            print(
                f"training failed: a process of the run ended it (exit code {code}); the lines "
                "above say why, else run the same command under torchrun to see its whole output",
                file=sys.stderr,
            )
        return code


def _speaks() -> bool:
    """Whether this process prints errors: the only one, or the first of several."""
    return os.environ.get("RANK", "0") == "0"


def _run(
    preset: presets.Preset,
    args: argparse.Namespace,
    out="runs",
    resume_dir=None,
    quiet_json: bool = False,
) -> tuple[int, str | None]:
    """Train; return the exit code and the run directory (None when relaunched)."""
    if preset.train.processes > 1 and "WORLD_SIZE" not in os.environ:
        return _relaunch_under_torchrun(preset.train.processes), None
    from engine.trainer import RunControl, Trainer

    control = RunControl()
    previous = signal.signal(signal.SIGINT, lambda *_: control.stop())
    if quiet_json:  # doctor: progress on stderr, findings on stdout
        printer = ProgressPrinter(sys.stderr)
    else:
        printer = JsonPrinter() if args.json else ProgressPrinter()
    try:
        summary = Trainer(preset, out=out, control=control, resume_dir=resume_dir).fit(printer)
    finally:
        signal.signal(signal.SIGINT, previous)
        printer.close()
    if summary.status == "failed":
        if not args.json:
            print(f"training failed: {summary.error}", file=sys.stderr)
            print(f"hint: {summary.hint}", file=sys.stderr)
        return 1, summary.run_dir
    return (130 if summary.status == "stopped" else 0), summary.run_dir
