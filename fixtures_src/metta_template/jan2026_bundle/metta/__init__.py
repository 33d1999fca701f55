"""Stand-in ``metta`` package (January 2026 layout); see fixtures_src/metta_template/README.md."""
