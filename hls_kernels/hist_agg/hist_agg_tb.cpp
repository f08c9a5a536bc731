// hist_agg_tb.cpp: C-simulation of hist_agg<P> for the parameter set in case.h (namespace tbcase: P,
// FEATURES[N][F], RECIP[LMAX+1], all written by the Python test).
//   stdin:  Q, then per query "n_items n_hist n id_1 .. id_n" (the ids as the query's 32-bit beats carry
//           them: two per beat, a last beat of one id with tkeep 0b0011; none when n is 0)
//   stdout: per query "flags n_excl excl_1 .. excl_n_excl n_mean mean_0 .. mean_{n_mean-1}"
#include "case.h"
#include "hist_agg/hist_agg.h"
#include "tb_io.h"

int main() {
  typedef tbcase::P P;
  typedef hybrec::hist_agg_traits<P>::mean_word mean_word;
  const long long queries = tb::next();
  for (long long q = 0; q < queries; q++) {
    const long long n_items = tb::next();
    const long long n_hist = tb::next();
    const std::vector<long long> ids = tb::next_n(tb::next());
    hls::stream<hybrec::in_beat> in;
    hls::stream<mean_word> mean;
    hls::stream<hybrec::flags_t> flags;
    hls::stream<hybrec::excl_token<P::ID_BITS> > excl;
    tb::write_id_beats(in, ids);
    hybrec::hist_agg<P>(in, ids.empty(), n_hist, n_items, tbcase::FEATURES, tbcase::RECIP, mean, flags, excl);
    if (!in.empty() || flags.size() != 1) return 3;
    tb::put(flags.read().to_int());
    std::vector<long long> excluded;
    bool ended = false;
    while (!excl.empty()) {
      const hybrec::excl_token<P::ID_BITS> token = excl.read();
      if (ended) return 4;  // nothing may follow the end token
      ended = token.last;
      if (!token.last) excluded.push_back(token.id.to_int());
    }
    if (!ended) return 4;
    tb::put(static_cast<long long>(excluded.size()));
    for (long long id : excluded) tb::put(id);
    tb::put(static_cast<long long>(mean.size()) * P::OUT_PAR);
    while (!mean.empty()) {
      const mean_word word = mean.read();
      for (int i = 0; i < P::OUT_PAR; i++) {
        const ap_int<P::FB> v = word.range((i + 1) * P::FB - 1, i * P::FB);
        tb::put(v.to_int());
      }
    }
    tb::end_line();
  }
  return 0;
}
