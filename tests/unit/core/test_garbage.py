"""The collector settings of the long-running processes (core.garbage)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from ovillo.core.garbage import YOUNG_THRESHOLD


def test_settling_freezes_startup_objects_and_raises_the_young_threshold() -> None:
    # In a process of its own: it changes the whole interpreter, the test run's included.
    script = textwrap.dedent(
        """
        import gc
        from ovillo.core.garbage import settle_after_startup

        before = gc.get_threshold()
        settle_after_startup()
        after = gc.get_threshold()
        print(gc.get_freeze_count(), before[1:] == after[1:], after[0])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    frozen, older_kept, young = done.stdout.split()
    assert int(frozen) > 1000
    assert older_kept == "True"
    assert int(young) == YOUNG_THRESHOLD


def test_a_process_may_choose_its_own_thresholds() -> None:
    # The standalone emulator keeps more alive per request and collects even less often.
    script = textwrap.dedent(
        """
        import gc
        from ovillo.core.garbage import settle_after_startup

        settle_after_startup(young=20_000, older=20)
        print(*gc.get_threshold())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["20000", "20", "20"]
