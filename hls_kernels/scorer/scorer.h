// scorer.h: the exact integer score of every item for one user vector, LANES items per row, bit for bit
// as hybrec.numerics.item_scores (the RTL version is hw/scorer/scorer.v):
//
//   score[n] = sum_d user[d] * items[n][d]        n < n_items, d < D (exact in SCORE_BITS, never saturated)
//
// n_items is the live item count of the model held (0 without one); N is the capacity the item memory is
// sized for. Items >= n_items are never candidates.
//
// Initiation interval by design: the row loop is pipelined at II=1, one row of LANES items per clock
// (LANES x D multipliers and LANES adder trees; the item memory is partitioned by lane and reshaped to one
// whole vector per read). A query takes D/IN_PAR clocks to take in the user vector plus
// max(1, ceil(n_items/LANES)) clocks for the rows, plus the pipeline depth.
//
// Streams: `in` D/IN_PAR beats, user value d of beat b at bits [(d - b*IN_PAR)*UBITS +: UBITS] (the last
// MVAU's output beats); `out` max(1, ceil(n_items/LANES)) rows (one row of no candidate when n_items is 0,
// so that every query ends with a last row), lane l of row r = item r*LANES + l; lanes past n_items are
// not valid and carry score -2^(SCORE_BITS-1), id all ones, like the RTL.
// Memory: items[l][r][d] = item vector of item r*LANES + l, written by scorer_load_line from the model
// image (or, in the block's test, a ROM written by Python).
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
            ap_uint<16> n_items, hls::stream<typename scorer_traits<P>::row>& out) {
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
  const int live = n_items > P::N ? P::N : n_items.to_int();
  const int n_rows = live == 0 ? 1 : (live + P::LANES - 1) / P::LANES;
  constexpr int max_rows = T::NROWS;  // the capacity's rows, for Vitis HLS' latency report only
  (void)max_rows;
rows:
  for (int r = 0; r < n_rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=max_rows
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
      const bool real = id < live;
      row.score[l] = real ? score : lowest;
      row.id[l] = real ? ap_uint<P::ID_BITS>(id) : no_id;
      row.valid[l] = real;
    }
    row.last = r == n_rows - 1;
    out.write(row);
  }
}

// One line of the model image's item memory `group` (docs/model-image.md): the row of items
// addr*LANES .. addr*LANES + LANES-1, element d of lane l at row bits [(l*D + d)*IBITS +: IBITS], cut into
// column groups of GROUP_BITS (the last group the rest). A group boundary may split an element, so each
// element takes the bits of the line that fall into it.
template <class P, int GROUP_BITS, class IT, class LINE>
void scorer_load_line(IT items[P::LANES][scorer_traits<P>::NROWS][P::D], int group, int addr, const LINE& line) {
#pragma HLS INLINE
  constexpr int ROW_BITS = P::LANES * P::D * P::IBITS;
  const int g_lo = group * GROUP_BITS;
  const int g_hi = g_lo + GROUP_BITS < ROW_BITS ? g_lo + GROUP_BITS : ROW_BITS;
  for (int l = 0; l < P::LANES; l++) {
#pragma HLS UNROLL
    for (int d = 0; d < P::D; d++) {
#pragma HLS UNROLL
      const int e_lo = (l * P::D + d) * P::IBITS;
      const int lo = e_lo > g_lo ? e_lo : g_lo;
      const int hi = e_lo + P::IBITS < g_hi ? e_lo + P::IBITS : g_hi;
      if (lo < hi) {
        ap_uint<P::IBITS> bits = items[l][addr][d];
        for (int b = 0; b < P::IBITS; b++) {
#pragma HLS UNROLL
          const int at = e_lo + b;
          if (at >= lo && at < hi) bits[b] = line[at - g_lo];
        }
        items[l][addr][d] = bits;
      }
    }
  }
}

}  // namespace hybrec

#endif  // HYBREC_SCORER_H
