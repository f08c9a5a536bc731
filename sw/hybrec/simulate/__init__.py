"""RTL simulation: cocotb testbenches run through cocotb's Python runner (Verilator or Icarus)."""
