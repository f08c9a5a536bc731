// hist_agg.h: history aggregation — the normalised mean of the history items' feature rows, bit for bit
// as hybrec.numerics.aggregate_history (the RTL version is hw/hist_agg/hist_agg.v) — and the query's
// exclusion list:
//
//   acc[j]  = sum of feat[id, j] over the first LMAX history ids that are < n_items   (exact)
//   mean[j] = sat_FB((acc[j] * R[n] + 2^(SHIFT-1)) >> SHIFT),  R = numerics.reciprocal_table(LMAX, SHIFT)
//   excl    = every id of the packet (history or not) that is < n_items
//
// n_items is the live item count of the model held (0 without one: every id is then out of range); the
// feature memory is sized for the capacity N and written at run time by hist_agg_load_line.
//
// Initiation interval by design: the id loop is pipelined at II=1 per id slot (an input beat carries two,
// so a beat takes two clocks; the RTL takes one, reading both ports of its feature memory); the F
// accumulators are registers, the feature memory is reshaped to one whole row per read. The normalisation
// takes F/NORM_PAR clocks (NORM_PAR multipliers) and the output F/OUT_PAR beats, one per clock.
//
// Streams: `in` the query's id beats after its header (two ids per beat, id s at bits [16*s +: 16] when
// tkeep[2s+1:2s] = 0b11; tlast on the last), none when the header had tlast (`head_last`); the first
// `n_hist` ids are history. `mean` F/OUT_PAR beats, feature j of beat b at bits [(j - b*OUT_PAR)*FB +: FB];
// `flags` one numerics.FLAG_* word per query; `excl` the excluded ids, then a token with last = true.
//
// P: N (capacity), F, FB (feature bits), LMAX, SHIFT, NORM_PAR (F % NORM_PAR == 0), OUT_PAR
// (F % OUT_PAR == 0), ID_BITS (2^ID_BITS > N).
#ifndef HYBREC_HIST_AGG_H
#define HYBREC_HIST_AGG_H

#include "hybrec_hls.h"

namespace hybrec {

template <class P>
struct hist_agg_traits {
  static constexpr int ACC_BITS = P::FB + clog2(P::LMAX + 1);  // holds LMAX features exactly
  static constexpr int POS_BITS = clog2(P::LMAX + 1) + 1;      // counts 0 .. LMAX
  static constexpr int PROD_BITS = ACC_BITS + P::SHIFT + 2;    // acc * R[n] + 2^(SHIFT-1)
  typedef ap_uint<P::OUT_PAR * P::FB> mean_word;
  typedef ap_int<P::FB> feature_t;
  static_assert(P::F % P::NORM_PAR == 0, "F must be a multiple of NORM_PAR");
  static_assert(P::F % P::OUT_PAR == 0, "F must be a multiple of OUT_PAR");
  static_assert((1L << P::ID_BITS) > P::N, "ID_BITS must hold every item id");
};

template <class P, class FT, class RT>
void hist_agg(hls::stream<in_beat>& in, bool head_last, ap_uint<16> n_hist, ap_uint<16> n_items,
              const FT features[P::N][P::F], const RT recip[P::LMAX + 1],
              hls::stream<typename hist_agg_traits<P>::mean_word>& mean, hls::stream<flags_t>& flags,
              hls::stream<excl_token<P::ID_BITS> >& excl) {
#pragma HLS ARRAY_RESHAPE variable=features complete dim=2
  typedef hist_agg_traits<P> T;
  ap_int<T::ACC_BITS> acc[P::F];
#pragma HLS ARRAY_PARTITION variable=acc complete dim=1
  ap_int<P::FB> avg[P::F];
#pragma HLS ARRAY_PARTITION variable=avg complete dim=1
  for (int j = 0; j < P::F; j++) {
#pragma HLS UNROLL
    acc[j] = 0;
  }
  ap_uint<T::POS_BITS> pos = 0;  // history ids looked at (stops at LMAX)
  ap_uint<T::POS_BITS> n = 0;    // history ids counted
  ap_uint<16> hist_left = n_hist;
  bool truncated = false;
  bool bad_id = false;

  if (!head_last) {
    in_beat beat;
    int slot = 0;
    bool done = false;
  ids:
    do {
#pragma HLS PIPELINE II=1
      if (slot == 0) beat = in.read();
      const ap_uint<16> id = beat.data.range(16 * slot + 15, 16 * slot);
      const bool present = slot_kept(beat, slot);
      const bool known = id < n_items;
      const bool history = present && hist_left != 0;
      const bool in_window = pos < P::LMAX;
      if (history) {
        hist_left--;
        if (!in_window) truncated = true;
        if (in_window && !known) bad_id = true;
        if (in_window) pos++;
      }
      if (history && in_window && known) {
        n++;
        for (int j = 0; j < P::F; j++) {
#pragma HLS UNROLL
          acc[j] += features[id.to_int()][j];
        }
      }
      if (present && known) {
        excl_token<P::ID_BITS> token;
        token.id = id;
        token.last = false;
        excl.write(token);
      }
      done = slot == 1 && beat.last;
      slot ^= 1;
    } while (!done);
  }

  const ap_uint<P::SHIFT + 1> r = recip[n.to_int()];  // R[0] = 0: an empty history averages to 0
  const ap_int<T::PROD_BITS> half = ap_int<T::PROD_BITS>(1) << (P::SHIFT - 1);
  const ap_int<T::PROD_BITS> hi = (1 << (P::FB - 1)) - 1;
  const ap_int<T::PROD_BITS> lo = -(1 << (P::FB - 1));
normalise:
  for (int c = 0; c < P::F / P::NORM_PAR; c++) {
#pragma HLS PIPELINE II=1
    for (int i = 0; i < P::NORM_PAR; i++) {
#pragma HLS UNROLL
      const int j = c * P::NORM_PAR + i;
      ap_int<T::PROD_BITS> v = acc[j];
      v = (v * r + half) >> P::SHIFT;  // arithmetic shift: floor, as numpy's >>
      avg[j] = v > hi ? hi : (v < lo ? lo : v);
    }
  }

emit:
  for (int b = 0; b < P::F / P::OUT_PAR; b++) {
#pragma HLS PIPELINE II=1
    typename T::mean_word word = 0;
    for (int i = 0; i < P::OUT_PAR; i++) {
#pragma HLS UNROLL
      word.range((i + 1) * P::FB - 1, i * P::FB) = avg[b * P::OUT_PAR + i];
    }
    mean.write(word);
  }

  const unsigned f = (n == 0 ? FLAG_EMPTY : 0u) | (truncated ? FLAG_TRUNCATED : 0u) | (bad_id ? FLAG_BAD_ID : 0u);
  flags.write(flags_t(f));
  excl_token<P::ID_BITS> end;
  end.id = 0;
  end.last = true;
  excl.write(end);
}

// One line of the model image's feature memory `group` (docs/model-image.md): item `addr`'s features
// group*F/GROUPS .. , feature j of the group at bits [j*FB +: FB].
template <class P, int GROUPS, class FT, class LINE>
void hist_agg_load_line(FT features[P::N][P::F], int group, int addr, const LINE& line) {
#pragma HLS INLINE
  static_assert(P::F % GROUPS == 0, "F must be a multiple of the feature memory's groups");
  constexpr int FG = P::F / GROUPS;
  for (int j = 0; j < FG; j++) {
#pragma HLS UNROLL
    const ap_int<P::FB> v = line.range((j + 1) * P::FB - 1, j * P::FB);
    features[addr][group * FG + j] = v;
  }
}

}  // namespace hybrec

#endif  // HYBREC_HIST_AGG_H
