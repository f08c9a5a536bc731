"""Benchmarks: training efficiency, and (later) CPU / GPU / FPGA serving comparisons."""
