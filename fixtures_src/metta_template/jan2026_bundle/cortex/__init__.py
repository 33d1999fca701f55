"""Stand-in for Metta's ``cortex`` package: only the stack configuration models."""
