"""What a Python test does when an import fails: a missing optional package (PyTorch, numpy)
skips it (exit 77, which meson counts as skipped), but the project's own Python missing is a
failure, never a silent skip."""
import sys

PROJECT_MODULES = ("captioner", "train", "train_scst", "average_checkpoints")


def skip_or_fail(error, install="python3-torch"):
    """Exit for an ImportError raised while importing a test's dependencies."""
    if (error.name or "").split(".")[0] in PROJECT_MODULES:
        sys.exit("FAIL: %s: the project's Python is not importable (meson test sets "
                 "PYTHONPATH=tools; by hand: PYTHONPATH=tools %s)" % (error, sys.argv[0]))
    print("SKIP: %s (install %s to run this test)" % (error, install))
    sys.exit(77)
