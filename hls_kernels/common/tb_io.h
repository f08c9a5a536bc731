// tb_io.h: whitespace-separated integers in and out, for the blocks' C-simulation testbenches (the
// Python side writes the inputs and checks the outputs against hybrec.numerics), and the stream
// packing the testbenches share.
#ifndef HYBREC_TB_IO_H
#define HYBREC_TB_IO_H

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <vector>

#include "hybrec_hls.h"

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

// A query's ids as the 32-bit beats after its header: two uint16 ids per beat (the first in the low
// half), a last beat of one id with tkeep 0b0011, tlast on the last beat.
template <typename Ids>
inline void write_id_beats(hls::stream<hybrec::in_beat>& s, const Ids& ids) {
  for (size_t i = 0; i < ids.size(); i += 2) {
    const bool pair = i + 1 < ids.size();
    hybrec::in_beat beat;
    beat.data = (static_cast<unsigned long long>(ids[i]) & 0xFFFF) |
                (pair ? (static_cast<unsigned long long>(ids[i + 1]) & 0xFFFF) << 16 : 0);
    beat.keep = pair ? 0xF : 0x3;
    beat.strb = beat.keep;
    beat.last = i + 2 >= ids.size();
    s.write(beat);
  }
}

// Drain a stream of score rows: "n_rows", then per row "last", then per lane "valid id score".
template <int LANES, typename Row>
inline void put_rows(hls::stream<Row>& out) {
  put(static_cast<long long>(out.size()));
  while (!out.empty()) {
    const Row row = out.read();
    put(row.last ? 1 : 0);
    for (int l = 0; l < LANES; l++) {
      put(row.valid[l]);
      put(row.id[l].to_int64());
      put(row.score[l].to_int64());
    }
  }
}

}  // namespace tb

#endif  // HYBREC_TB_IO_H
