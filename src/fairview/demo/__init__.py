"""`fairview demo`: a simulated platform driven through the real HTTP API, then settled.

The server runs in a forked process on the embedded engine, on a clock the
driver moves forward (simulated time runs faster than life) and both processes
share; the traffic goes over loopback HTTP exactly as players would send it.
At the end every delivery is final, the ledger is settled, and each verdict is
compared with the simulator's ground truth.
"""

from __future__ import annotations

from fairview.demo.model import DemoOptions
from fairview.demo.run import run_demo

__all__ = ["DemoOptions", "run_demo"]
