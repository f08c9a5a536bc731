// topk_tb.cpp: C-simulation of topk<P> for the parameter set in case.h (namespace tbcase: P).
//   stdin:  Q, then per query "n_rows" and per row LANES x "valid id score"
//   stdout: per query "n_results", then per result "valid id score last"
#include "case.h"
#include "tb_io.h"
#include "topk/topk.h"

int main() {
  typedef tbcase::P P;
  typedef hybrec::topk_traits<P> T;
  const long long queries = tb::next();
  for (long long q = 0; q < queries; q++) {
    const long long rows = tb::next();
    hls::stream<typename T::row> in;
    hls::stream<typename T::result> out;
    for (long long r = 0; r < rows; r++) {
      typename T::row row;
      for (int l = 0; l < P::LANES; l++) {
        row.valid[l] = tb::next() != 0;
        row.id[l] = tb::next();
        row.score[l] = tb::next();
      }
      row.last = r == rows - 1;
      in.write(row);
    }
    hybrec::topk<P>(in, out);
    if (!in.empty()) return 3;
    tb::put(static_cast<long long>(out.size()));
    while (!out.empty()) {
      const typename T::result res = out.read();
      tb::put(res.valid ? 1 : 0);
      tb::put(res.id.to_int64());
      tb::put(res.score.to_int64());
      tb::put(res.last ? 1 : 0);
    }
    tb::end_line();
  }
  return 0;
}
