// topk.h: streaming top-K over a query's scorer rows, bit for bit as the golden model's selection
// (hybrec.numerics.topk: descending score, ties to the lower id; the RTL version is hw/topk/topk.v).
//
// Per lane a sorted list of the K best candidates seen so far (K comparators and a shift-insert per
// lane, all lanes in parallel); after the query's last row the LANES lists are merged: each step emits
// the best list head (a LANES-way compare) and shifts that list up by one.
//
// Initiation interval by design: the row loop is pipelined at II=1 (one row of LANES candidates per
// clock), the merge loop at II=1 (one result per clock); a query takes NROWS + K clocks plus the
// pipeline depths (the RTL merges while the next query's rows stream in; this version does not).
//
// Streams: `in` rows as scorer.h writes them (valid lanes only are candidates), `out` K results, best
// first, last on the K-th; valid = false (id all ones, score 0) where fewer than K candidates came.
//
// P: LANES, K, ID_BITS, SCORE_BITS.
#ifndef HYBREC_TOPK_H
#define HYBREC_TOPK_H

#include "hybrec_hls.h"

namespace hybrec {

template <class P>
struct topk_traits {
  typedef score_row<P::LANES, P::ID_BITS, P::SCORE_BITS> row;
  typedef topk_result<P::ID_BITS, P::SCORE_BITS> result;
  struct entry {
    ap_int<P::SCORE_BITS> score;
    ap_uint<P::ID_BITS> id;
    bool valid;
  };
  // a ranks before b: a candidate before an empty slot, then the higher score, then the lower id.
  static bool before(const entry& a, const entry& b) {
#pragma HLS INLINE
    return a.valid && (!b.valid || a.score > b.score || (a.score == b.score && a.id < b.id));
  }
};

template <class P>
void topk(hls::stream<typename topk_traits<P>::row>& in, hls::stream<typename topk_traits<P>::result>& out) {
  typedef topk_traits<P> T;
  typedef typename T::entry entry;
  entry list[P::LANES][P::K];
#pragma HLS ARRAY_PARTITION variable=list complete dim=0
  for (int l = 0; l < P::LANES; l++) {
#pragma HLS UNROLL
    for (int k = 0; k < P::K; k++) {
#pragma HLS UNROLL
      list[l][k].score = 0;
      list[l][k].id = ~ap_uint<P::ID_BITS>(0);
      list[l][k].valid = false;
    }
  }

  bool last = false;
rows:
  do {
#pragma HLS PIPELINE II=1
    const typename T::row row = in.read();
    last = row.last;
    for (int l = 0; l < P::LANES; l++) {
#pragma HLS UNROLL
      entry c;
      c.score = row.score[l];
      c.id = row.id[l];
      c.valid = row.valid[l];
      entry old[P::K];
      for (int k = 0; k < P::K; k++) {
#pragma HLS UNROLL
        old[k] = list[l][k];
      }
      // old[k] stays where it is while it ranks before c; c goes to the first slot where it does not;
      // the entries behind move down by one (the K-th drops out).
      for (int k = 0; k < P::K; k++) {
#pragma HLS UNROLL
        const bool keep = T::before(old[k], c);
        const bool here = k == 0 || T::before(old[k - 1], c);
        list[l][k] = keep ? old[k] : (here ? c : old[k - 1]);
      }
    }
  } while (!last);

merge:
  for (int k = 0; k < P::K; k++) {
#pragma HLS PIPELINE II=1
    int best = 0;
    for (int l = 1; l < P::LANES; l++) {
#pragma HLS UNROLL
      if (T::before(list[l][0], list[best][0])) best = l;
    }
    typename T::result res;
    res.valid = list[best][0].valid;
    res.score = res.valid ? list[best][0].score : ap_int<P::SCORE_BITS>(0);
    res.id = res.valid ? list[best][0].id : ~ap_uint<P::ID_BITS>(0);
    res.last = k == P::K - 1;
    out.write(res);
    for (int l = 0; l < P::LANES; l++) {
#pragma HLS UNROLL
      if (l == best) {
        for (int j = 0; j + 1 < P::K; j++) {
#pragma HLS UNROLL
          list[l][j] = list[l][j + 1];
        }
        list[l][P::K - 1].valid = false;
      }
    }
  }
}

}  // namespace hybrec

#endif  // HYBREC_TOPK_H
