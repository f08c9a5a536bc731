// scorer_tb.cpp: C-simulation of scorer<P> for the parameter set in case.h (namespace tbcase: P,
// ITEMS[LANES][NROWS][D], written by the Python test).
//   stdin:  Q, then per query "n_items" (the live items) and D user values
//   stdout: per query "n_rows" and per row "last" then per lane "valid id score"
#include "case.h"
#include "scorer/scorer.h"
#include "tb_io.h"

int main() {
  typedef tbcase::P P;
  typedef hybrec::scorer_traits<P> T;
  const long long queries = tb::next();
  for (long long q = 0; q < queries; q++) {
    const long long n_items = tb::next();
    const std::vector<long long> user = tb::next_n(P::D);
    hls::stream<typename T::in_word> in;
    hls::stream<typename T::row> out;
    for (int b = 0; b < P::D / P::IN_PAR; b++) {
      typename T::in_word word = 0;
      for (int i = 0; i < P::IN_PAR; i++) {
        word.range((i + 1) * P::UBITS - 1, i * P::UBITS) = ap_int<P::UBITS + 1>(user[b * P::IN_PAR + i]);
      }
      in.write(word);
    }
    hybrec::scorer<P>(in, tbcase::ITEMS, n_items, out);
    if (!in.empty()) return 3;
    tb::put_rows<P::LANES>(out);
    tb::end_line();
  }
  return 0;
}
