"""A stand-in for a 2023-era RL training package whose classes end up inside pickles.

This package exists only while the generator runs inside an old-torch venv: the worker puts
``fixtures_src/legacy_template`` on ``sys.path`` so that pickles reference these import paths.
Nothing on the test-time ``sys.path`` can import it, which is exactly the situation of a user
holding checkpoints whose code has moved or been deleted.
"""
