// tb_io.h: whitespace-separated integers in and out, for the blocks' C-simulation testbenches (the
// Python side writes the inputs and checks the outputs against hybrec.numerics).
#ifndef HYBREC_TB_IO_H
#define HYBREC_TB_IO_H

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <vector>

namespace tb {

inline long long next() {
  long long v = 0;
  if (!(std::cin >> v)) {
    std::fprintf(stderr, "testbench: input ended early\n");
    std::exit(2);
  }
  return v;
}

inline std::vector<long long> next_n(long long n) {
  std::vector<long long> values(static_cast<size_t>(n));
  for (long long& v : values) v = next();
  return values;
}

inline void put(long long v) { std::printf("%lld ", v); }
inline void end_line() { std::printf("\n"); }

}  // namespace tb

#endif  // HYBREC_TB_IO_H
