// pause_rng.h: the seeded xorshift64 generator both C++ drivers of the Verilated kernel use for their
// random AXI-Stream pauses (kernel_harness.cpp, kernel_model.cpp), so a seed means the same pauses in both.
#pragma once

#include <cstdint>

namespace hybrec_sim {

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  // true with probability p (a pause this cycle)
  bool chance(double p) { return p > 0.0 && static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }
};

}  // namespace hybrec_sim
