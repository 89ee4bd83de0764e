"""Self-play PPO for Shogi on cshogi boards (the ``shogi-ppo`` trainer).

OpenMP threads that spin while waiting make torch 3-10x slower when the cores are shared (a
measured fact on the 2-core machines this runs on). Asking for passive waiting costs little
when the cores are free; it only takes effect if torch has not been imported yet.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
