"""Run every benchmark and write docs/benchmarks.md:  python -m bench [--quick] [--out FILE]."""

from .run import main

main()
