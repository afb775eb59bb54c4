"""O2C Hub benchmarks: ``python -m bench.run`` (``make bench``). What each figure means: ``bench/README.md``."""
