// hist_mask.h: keeps a query's own history out of its top-K (the RTL version is hw/kernel/hist_mask.v).
// The ids hist_agg counted (the first LMAX ids of the packet that are < N, as the golden model's
// counted_ids) set their bits in a bank of N bits; the scorer's rows pass through and lane l of row r
// loses its valid bit where the bank holds item r*LANES + l. Each row's bits are cleared as it passes,
// so the bank is empty again after the query's last row (no clearing pass).
//
// Initiation interval by design: both loops are pipelined at II=1 — one excluded id per clock (a plain
// write into one of LANES one-bit memories: no read-modify-write), then one row per clock (the LANES
// memories are read and cleared at the row's address in parallel). A query of n counted ids takes
// n + 1 + NROWS clocks; the RTL snoops the input instead and adds no clocks of its own.
//
// P: N, LANES, ID_BITS, SCORE_BITS (the row format of scorer.h).
#ifndef HYBREC_HIST_MASK_H
#define HYBREC_HIST_MASK_H

#include "hybrec_hls.h"

namespace hybrec {

template <class P>
struct hist_mask_traits {
  static constexpr int NROWS = (P::N + P::LANES - 1) / P::LANES;
  typedef score_row<P::LANES, P::ID_BITS, P::SCORE_BITS> row;
};

template <class P>
void hist_mask(hls::stream<excl_token<P::ID_BITS> >& excl, hls::stream<typename hist_mask_traits<P>::row>& in,
               hls::stream<typename hist_mask_traits<P>::row>& out) {
  typedef hist_mask_traits<P> T;
  static bool bank[P::LANES][T::NROWS];  // zero at start-up, zero again after every query
#pragma HLS ARRAY_PARTITION variable=bank complete dim=1

  bool done = false;
mark:
  do {
#pragma HLS PIPELINE II=1
    const excl_token<P::ID_BITS> token = excl.read();
    done = token.last;
    if (!done) {
      const int id = token.id.to_int();
      bank[id % P::LANES][id / P::LANES] = true;
    }
  } while (!done);

  bool last = false;
  int r = 0;
pass:
  do {
#pragma HLS PIPELINE II=1
    typename T::row row = in.read();
    for (int l = 0; l < P::LANES; l++) {
#pragma HLS UNROLL
      if (bank[l][r]) row.valid[l] = 0;
      bank[l][r] = false;
    }
    out.write(row);
    last = row.last;
    r++;
  } while (!last);
}

}  // namespace hybrec

#endif  // HYBREC_HIST_MASK_H
