"""Checks and words about a run's directory, shared by every logger."""

import logging
import os
import tempfile

from tb_actviz import remote_files
from tb_actviz import wording
from tb_actviz.format import pixel_file


def check_writable(run_dir, log_dir, who="ActivationLogger"):
    """Raises a ValueError naming `log_dir` when `run_dir` cannot be written
    (a remote store: one small object is uploaded and deleted)."""
    try:
        if remote_files.is_remote(run_dir):
            remote_files.check_reachable(run_dir)
            check = remote_files.join(
                run_dir, ".tb_actviz_write_check.%d.%s" % (os.getpid(), os.urandom(4).hex()))
            remote_files.write(check, b"")
            try:
                remote_files.remove(check)
            except OSError:
                pass  # allowed to write, not to delete: the logs need only the former
            return
        os.makedirs(run_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=run_dir):
            pass
    except (OSError, ValueError) as e:
        raise ValueError(
            "%s cannot write to log_dir %r: %s. Choose a writable directory." % (who, log_dir, e)
        ) from e


def format_bytes(count):
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (count, unit)
        count /= 1000.0


def first_log_line(logged, kernels, attribution, written, num_images, run_dir, when):
    """The one line a logger prints once its first log is on disk: what is
    logged, where, how often, and the bytes of one log per tag.

    Args:
      logged, kernels: the logged layers and kernel layers (each with an
        `entry.path`), in the writer's order.
      attribution: the attribution pipeline (with a `cam_entry`), or None.
      written: the bytes of each tag, in the writer's order.
    """
    names = [l.entry.path for l in logged] + ["kernels of %s" % k.entry.path for k in kernels]
    if attribution is not None:
        names += [wording.method_text("grad_cam", attribution.cam_entry.path), "saliency"]
    per_tag = ", ".join("%s %s" % (name, format_bytes(n)) for name, n in zip(names, written))
    return "tb_actviz: logging %d layer(s) for %d probe image(s) to %s %s; one log writes %s (%s)" % (
        len(logged), num_images, run_dir, when, format_bytes(sum(written)), per_tag)


def warn_of_earlier_logs(run_dir, step, resume=None):
    """Warns when `run_dir` already holds logs of an earlier training at
    `step` or later: every reader (both of TensorBoard's loaders,
    `LogReader`, export) treats a step that goes back as a restart and shows
    the newer training from there on. `resume`: how to go on from the
    earlier training instead, with a %d for its last step."""
    if remote_files.is_remote(run_dir):
        return  # listing a bucket at every train begin costs requests
    try:
        names = os.listdir(os.path.join(run_dir, *pixel_file.PLUGIN_DIR))
    except OSError:
        return  # nothing logged there yet
    steps = sorted(s for s in map(pixel_file.step_of, names) if s is not None)
    if steps and steps[-1] >= step:
        resume = " (or go on from the earlier training with %s)" % (resume % steps[-1]) if resume else ""
        logging.getLogger("tb_actviz").warning(
            "ActivationLogger: %s already holds activations of an earlier training (steps %d "
            "to %d); this training logs from step %d, and TensorBoard, LogReader and "
            "tb-actviz export take a step that goes back as a restart: from step %d on they "
            "show this training and hide the earlier one's steps %d to %d. To keep both, "
            "give this training its own log_dir%s."
            % (run_dir, steps[0], steps[-1], step, step, step, steps[-1], resume))
