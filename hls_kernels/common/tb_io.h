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

// One query's history as AXI4-Stream beats: an id per beat, tlast on the last.
template <typename Ids>
inline void write_packet(hls::stream<hybrec::id_beat>& s, const Ids& ids) {
  for (size_t i = 0; i < ids.size(); i++) {
    hybrec::id_beat beat;
    beat.data = ids[i];
    beat.keep = -1;
    beat.strb = -1;
    beat.last = i + 1 == ids.size();
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
