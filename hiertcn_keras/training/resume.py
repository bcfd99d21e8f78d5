"""Resume a killed training run only when it is the same run.

While `train` runs, everything lives in `RUN_DIR.partial/`, with the `backup/` checkpoint a
killed run resumes from. `RUN_DIR.partial/settings.json` records, at the start, everything that
decides what the run computes: the model config, the training config (all but the progress-bar
verbosity), the prepared data's fingerprint and the sha256 of a pretrained item matrix.

A later `train` into the same `RUN_DIR`:

- with identical settings resumes the checkpoint (the point of it: a killed run started again
  with the same command ends with the same weights);
- with any difference refuses, naming every differing setting, unless `overwrite=True`
  (`--overwrite`), which discards the old checkpoint and starts fresh, and says so;
- with a checkpoint that has no `settings.json` (an earlier release's) refuses the same way,
  since nothing shows it is the same run.

A run that fails with an exception removes its `RUN_DIR.partial/` (nothing half-trained is left
to be resumed by mistake); a killed or interrupted run (SIGKILL, Ctrl-C) keeps it. Distributed
runs keep it on any failure, since a worker's failure is how a preempted peer shows up and
resuming is what `BackupAndRestore` is there for.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import json
import shutil
import sys

from hiertcn_keras.artifacts import atomic, output_guard
from hiertcn_keras.artifacts.run_dir import item_matrix_fingerprint, partial_dir

SETTINGS_FILE = "settings.json"
# Progress display only: it changes nothing that is computed.
_IGNORED_TRAIN_SETTINGS = ("verbose", "memory_check", "time_limit")

_CLAIMED = contextvars.ContextVar("hiertcn_claimed_checkpoints", default=None)


class ResumeError(ValueError):
    """A leftover checkpoint of another run (the CLI reports it as `hiertcn train: error:`)."""


def run_settings(model_config, train_config, data_fingerprint, item_matrix=None):
    """What decides a run's result, as a JSON-ready dict.

    Args:
        model_config: `ModelConfig`.
        train_config: `TrainConfig`.
        data_fingerprint: str. The prepared dataset's fingerprint.
        item_matrix: float array `[n_items, D]` or `None` (learned item space).

    Returns:
        dict with keys `model`, `train`, `data_fingerprint`, `item_matrix_sha256`.
    """
    train = {k: v for k, v in dataclasses.asdict(train_config).items() if k not in _IGNORED_TRAIN_SETTINGS}
    settings = {"model": model_config.to_dict(), "train": train, "data_fingerprint": data_fingerprint,
                "item_matrix_sha256": item_matrix_fingerprint(item_matrix)}
    return json.loads(json.dumps(settings, default=str))  # tuples → lists, as on disk


def differences(recorded, current, prefix=""):
    """The settings that differ between two `run_settings` dicts, as readable lines.

    Returns:
        list of str such as `"train.seed: 0 → 1"` (empty when they agree).
    """
    lines = []
    for key in sorted(set(recorded) | set(current)):
        name = f"{prefix}{key}"
        old, new = recorded.get(key, "(absent)"), current.get(key, "(absent)")
        if isinstance(old, dict) and isinstance(new, dict):
            lines += differences(old, new, prefix=name + ".")
        elif old != new:
            lines.append(f"{name}: {old!r} → {new!r}")
    return lines


def open_checkpoint(out_dir, settings, *, overwrite=False, inputs=(), keep_on_error=False, log=None):
    """Check `out_dir` may be written, then give the checkpoint folder to train in.

    Args:
        out_dir: str or Path. The run directory the run will write at its end.
        settings: dict from `run_settings`.
        overwrite: bool. Replace an existing `out_dir` that is not a run directory, and discard
            a checkpoint of other settings. Defaults to `False`.
        inputs: iterable of paths the run reads; `out_dir` may not be, hold or lie in one.
        keep_on_error: bool. Keep the checkpoint when the run fails with an exception (for
            distributed runs). Defaults to `False`.
        log: file or `None`. Where to say that a checkpoint is resumed or discarded. Defaults
            to standard error.

    Returns:
        Path of `RUN_DIR.partial` (created, holding `settings.json`).

    Raises:
        OutputError: `out_dir` must not be replaced (see `hiertcn_keras.artifacts.output_guard`).
        ResumeError: a checkpoint of other settings exists and `overwrite` is not set.
    """
    log = sys.stderr if log is None else log
    output_guard.check_output(out_dir, "run", inputs=inputs, overwrite=overwrite)
    work = partial_dir(out_dir)
    if work.exists() and not work.is_dir():
        raise ResumeError(f"{work}: a file is where the run's checkpoint folder goes; move it away")
    if work.exists():
        recorded = _read_settings(work)
        if recorded is None:
            changed = ["no settings.json: left by an earlier version, so it cannot be shown to match"]
        else:
            changed = differences(recorded, settings)
        if changed and not overwrite:
            raise ResumeError(
                f"{work} holds the checkpoint of a run with other settings, which would be resumed: "
                + "; ".join(changed) + ". Pass --overwrite to discard it and start fresh, or choose "
                "another --out")
        if changed:
            print(f"discarding the checkpoint {work} (other settings: {'; '.join(changed)}); starting "
                  "fresh", file=log)
            shutil.rmtree(work)
        elif (work / "backup").exists():
            print(f"resuming the checkpoint {work} (same settings)", file=log)
    work.mkdir(parents=True, exist_ok=True)
    if not (work / SETTINGS_FILE).is_file():
        atomic.write_json(work / SETTINGS_FILE, settings)
    claimed = _CLAIMED.get()
    if claimed is not None and not keep_on_error:
        claimed.append(work)
    return work


def discard_on_error(train_function):
    """Decorate a training function so that an exception removes the checkpoint it opened.

    Only checkpoints opened through `open_checkpoint` during the call are removed, and only on
    `Exception`: a `KeyboardInterrupt` (or a kill, which runs no code) keeps them for resuming.
    """

    @functools.wraps(train_function)
    def wrapper(*args, **kwargs):
        token = _CLAIMED.set([])
        try:
            return train_function(*args, **kwargs)
        except Exception:
            for work in _CLAIMED.get():
                shutil.rmtree(work, ignore_errors=True)
            raise
        finally:
            _CLAIMED.reset(token)

    return wrapper


def _read_settings(work):
    try:
        value = json.loads((work / SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
