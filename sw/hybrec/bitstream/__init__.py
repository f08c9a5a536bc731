"""Bitstreams and resource counts from the open FPGA flow (Yosys, nextpnr) and the vendor flow's scripts."""
