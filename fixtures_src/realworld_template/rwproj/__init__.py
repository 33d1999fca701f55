"""A stand-in user project for the real-world corpus (``fixtures_src/realworld_worker.py``).

Only the worker's own process, inside a throwaway venv, puts this directory on ``sys.path``:
the checkpoints name these classes (``rwproj.*``) and tests must never be able to import them.
Python 3.8 syntax; every submodule imports only what its environment has installed.
"""
