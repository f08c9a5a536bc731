// hist_mask_tb.cpp: C-simulation of hist_mask<P> for the parameter set in case.h (namespace tbcase: P).
//   stdin:  Q, then per query "n id_1 .. id_n" (the counted ids), then NROWS*LANES scores and
//           NROWS*LANES valid bits (item r*LANES + l at index r*LANES + l)
//   stdout: per query "n_rows", then per row "last", then per lane "valid id score"
#include "case.h"
#include "hist_mask/hist_mask.h"
#include "tb_io.h"

int main() {
  typedef tbcase::P P;
  typedef hybrec::hist_mask_traits<P> T;
  const int cells = T::NROWS * P::LANES;
  const long long queries = tb::next();
  for (long long q = 0; q < queries; q++) {
    const std::vector<long long> ids = tb::next_n(tb::next());
    const std::vector<long long> scores = tb::next_n(cells);
    const std::vector<long long> valid = tb::next_n(cells);
    hls::stream<hybrec::excl_token<P::ID_BITS> > excl;
    hls::stream<typename T::row> in;
    hls::stream<typename T::row> out;
    for (long long id : ids) {
      hybrec::excl_token<P::ID_BITS> token;
      token.id = id;
      token.last = false;
      excl.write(token);
    }
    hybrec::excl_token<P::ID_BITS> end;
    end.id = 0;
    end.last = true;
    excl.write(end);
    for (int r = 0; r < T::NROWS; r++) {
      typename T::row row;
      for (int l = 0; l < P::LANES; l++) {
        row.score[l] = scores[r * P::LANES + l];
        row.id[l] = r * P::LANES + l;
        row.valid[l] = valid[r * P::LANES + l] != 0;
      }
      row.last = r == T::NROWS - 1;
      in.write(row);
    }
    hybrec::hist_mask<P>(excl, in, out);
    if (!excl.empty() || !in.empty()) return 3;
    tb::put_rows<P::LANES>(out);
    tb::end_line();
  }
  return 0;
}
