"""The benchmark behind `make bench` and docs/performance.md. Development only: never shipped,
never imported by the function. Run it with `make bench` (or `python -m bench --quick`)."""
