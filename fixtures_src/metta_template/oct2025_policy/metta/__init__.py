"""Stand-in ``metta`` package (Sep 20 - Oct 2025 layout); see metta_template/README.md."""
