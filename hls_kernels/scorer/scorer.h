// scorer.h: the exact integer score of every item for one user vector, LANES items per row, bit for bit
// as hybrec.numerics.item_scores (the RTL version is hw/scorer/scorer.v):
//
//   score[n] = sum_d user[d] * items[n][d]        n < N, d < D (exact in SCORE_BITS, never saturated)
//
// Initiation interval by design: the row loop is pipelined at II=1, one row of LANES items per clock
// (LANES x D multipliers and LANES adder trees; the item ROM is partitioned by lane and reshaped to one
// whole vector per read). A query takes D/IN_PAR clocks to take in the user vector plus NROWS =
// ceil(N/LANES) clocks for the rows, plus the pipeline depth.
//
// Streams: `in` D/IN_PAR beats, user value d of beat b at bits [(d - b*IN_PAR)*UBITS +: UBITS] (the last
// MVAU's output beats); `out` NROWS rows, lane l of row r = item r*LANES + l; lanes past N (last row
// only) are not valid and carry score -2^(SCORE_BITS-1), id all ones, like the RTL.
// ROM: items[l][r][d] = item vector of item r*LANES + l (zero past N), written by hybrec.compile.hls.
//
// P: N, D, UBITS, USIGNED, IBITS, LANES, ID_BITS (2^ID_BITS > N), SCORE_BITS, IN_PAR (D % IN_PAR == 0).
#ifndef HYBREC_SCORER_H
#define HYBREC_SCORER_H

#include "hybrec_hls.h"

namespace hybrec {

template <class P>
struct scorer_traits {
  static constexpr int NROWS = (P::N + P::LANES - 1) / P::LANES;
  typedef ap_uint<P::IN_PAR * P::UBITS> in_word;
  typedef typename elem<P::UBITS, P::USIGNED>::type user_elem;
  typedef score_row<P::LANES, P::ID_BITS, P::SCORE_BITS> row;
  static_assert(P::D % P::IN_PAR == 0, "D must be a multiple of IN_PAR");
  static_assert((1L << P::ID_BITS) > P::N, "ID_BITS must hold every item id");
  static_assert(P::SCORE_BITS >= P::UBITS + P::IBITS + (P::USIGNED ? 0 : 1) + clog2(P::D),
                "SCORE_BITS too narrow: scores are never saturated");
};

template <class P, class IT>
void scorer(hls::stream<typename scorer_traits<P>::in_word>& in, const IT items[P::LANES][scorer_traits<P>::NROWS][P::D],
            hls::stream<typename scorer_traits<P>::row>& out) {
#pragma HLS ARRAY_PARTITION variable=items complete dim=1
#pragma HLS ARRAY_RESHAPE variable=items complete dim=3
  typedef scorer_traits<P> T;
  typename T::user_elem user[P::D];
#pragma HLS ARRAY_PARTITION variable=user complete dim=1

load:
  for (int b = 0; b < P::D / P::IN_PAR; b++) {
#pragma HLS PIPELINE II=1
    const typename T::in_word word = in.read();
    for (int i = 0; i < P::IN_PAR; i++) {
#pragma HLS UNROLL
      user[b * P::IN_PAR + i] = word.range((i + 1) * P::UBITS - 1, i * P::UBITS);
    }
  }

  ap_int<P::SCORE_BITS> lowest = 0;
  lowest[P::SCORE_BITS - 1] = 1;
  const ap_uint<P::ID_BITS> no_id = ~ap_uint<P::ID_BITS>(0);
rows:
  for (int r = 0; r < T::NROWS; r++) {
#pragma HLS PIPELINE II=1
    typename T::row row;
    row.valid = 0;
    for (int l = 0; l < P::LANES; l++) {
#pragma HLS UNROLL
      ap_int<P::SCORE_BITS> score = 0;
      for (int d = 0; d < P::D; d++) {
#pragma HLS UNROLL
        const ap_int<P::IBITS> item = items[l][r][d];
        score += user[d] * item;
      }
      const int id = r * P::LANES + l;
      const bool real = id < P::N;
      row.score[l] = real ? score : lowest;
      row.id[l] = real ? ap_uint<P::ID_BITS>(id) : no_id;
      row.valid[l] = real;
    }
    row.last = r == T::NROWS - 1;
    out.write(row);
  }
}

}  // namespace hybrec

#endif  // HYBREC_SCORER_H
