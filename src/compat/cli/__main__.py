from compat.cli import console

console()
