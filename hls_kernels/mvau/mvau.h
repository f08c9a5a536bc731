// mvau.h: matrix-vector-activation unit, FINN style (PE x SIMD folding, multi-thresholding), bit for bit
// as hybrec.numerics.mvau (the RTL version is hw/mvau/mvau.v):
//
//   acc[c] = sum_r x[r] * W[r][c]                       r < MW, c < MH (exact in ACC_BITS)
//   y[c]   = sum_k [acc[c] >= T[c][k]] + OUT_BIAS       k < 2^OUT_BITS - 1      (y[c] = acc[c] if NO_ACT)
//
// Initiation interval by design: the step loop is pipelined at II=1; step (nf, sf) multiplies input word
// sf with the weights of neuron fold nf in all PE x SIMD lanes, so a vector takes NF*SF = (MH/PE)*(MW/SIMD)
// clocks (FINN's exp_cycles). The first neuron fold reads the input words as they arrive, the others
// reuse them from a buffer. Activation: every threshold of a channel is compared at once (2^OUT_BITS - 1
// comparators per PE, thresholds partitioned into registers); the RTL does a binary search instead.
//
// Streams: `in` SF beats per vector, element r = sf*SIMD + i at bits [i*IN_BITS +: IN_BITS]; `out` NF
// beats, channel c = nf*PE + p at bits [p*OUT_W +: OUT_W] (OUT_W = OUT_BITS, or ACC_BITS if NO_ACT).
// Memories: weights[p][nf*SF + sf][i] = W[sf*SIMD + i][nf*PE + p]; thresholds[p][nf][k] = T[nf*PE + p][k],
// written at run time from the model image's lines by mvau_load_line (or, in the block's test, ROMs
// written by Python).
//
// L: MW, MH, SIMD, PE, IN_BITS, IN_SIGNED, W_BITS, ACC_BITS, OUT_BITS, OUT_BIAS, NO_ACT (and T_UNITS, the
// RTL's threshold units, for mvau_load_line).
#ifndef HYBREC_MVAU_H
#define HYBREC_MVAU_H

#include "hybrec_hls.h"

namespace hybrec {

template <class L>
struct mvau_traits {
  static constexpr int SF = L::MW / L::SIMD;
  static constexpr int NF = L::MH / L::PE;
  static constexpr int NT = L::NO_ACT ? 1 : (1 << L::OUT_BITS) - 1;
  static constexpr int OUT_W = L::NO_ACT ? L::ACC_BITS : L::OUT_BITS;
  typedef ap_uint<L::SIMD * L::IN_BITS> in_word;
  typedef ap_uint<L::PE * OUT_W> out_word;
  typedef typename elem<L::IN_BITS, L::IN_SIGNED>::type in_elem;
  typedef ap_int<L::ACC_BITS> acc_t;
  static_assert(L::MW % L::SIMD == 0, "MW must be a multiple of SIMD");
  static_assert(L::MH % L::PE == 0, "MH must be a multiple of PE");
  static_assert(L::NO_ACT || (L::OUT_BITS >= 1 && L::OUT_BITS <= 8), "OUT_BITS must be in 1..8");
};

template <class L, class WT, class TT>
void mvau(hls::stream<typename mvau_traits<L>::in_word>& in, hls::stream<typename mvau_traits<L>::out_word>& out,
          const WT weights[L::PE][mvau_traits<L>::NF * mvau_traits<L>::SF][L::SIMD],
          const TT thresholds[L::PE][mvau_traits<L>::NF][mvau_traits<L>::NT]) {
#pragma HLS ARRAY_PARTITION variable=weights complete dim=1
#pragma HLS ARRAY_RESHAPE variable=weights complete dim=3
#pragma HLS ARRAY_PARTITION variable=thresholds complete dim=1
#pragma HLS ARRAY_PARTITION variable=thresholds complete dim=3
  typedef mvau_traits<L> T;
  typename T::in_word buffer[T::SF];
  typename T::acc_t acc[L::PE];
#pragma HLS ARRAY_PARTITION variable=acc complete dim=1
  typename T::out_word word = 0;
  int nf = 0;
  int sf = 0;

steps:
  for (int step = 0; step < T::NF * T::SF; step++) {
#pragma HLS PIPELINE II=1
    typename T::in_word x;
    if (nf == 0) {
      x = in.read();
      buffer[sf] = x;
    } else {
      x = buffer[sf];
    }
    for (int p = 0; p < L::PE; p++) {
#pragma HLS UNROLL
      typename T::acc_t dot = 0;
      for (int i = 0; i < L::SIMD; i++) {
#pragma HLS UNROLL
        const typename T::in_elem xi = x.range((i + 1) * L::IN_BITS - 1, i * L::IN_BITS);
        const ap_int<L::W_BITS> wi = weights[p][nf * T::SF + sf][i];
        dot += xi * wi;
      }
      const typename T::acc_t total = (sf == 0 ? typename T::acc_t(0) : acc[p]) + dot;
      acc[p] = total;
      if (L::NO_ACT) {
        word.range((p + 1) * T::OUT_W - 1, p * T::OUT_W) = total;
      } else {
        ap_uint<L::OUT_BITS + 1> count = 0;
        for (int k = 0; k < T::NT; k++) {
#pragma HLS UNROLL
          if (total >= thresholds[p][nf][k]) count++;
        }
        const ap_int<L::OUT_BITS + 2> y = ap_int<L::OUT_BITS + 2>(count) + L::OUT_BIAS;
        word.range((p + 1) * T::OUT_W - 1, p * T::OUT_W) = y;
      }
    }
    if (sf == T::SF - 1) {
      out.write(word);
      sf = 0;
      nf++;
    } else {
      sf++;
    }
  }
}

// One line of the layer's memory `index` in the model image (docs/model-image.md, the layouts of
// hw/mvau/mvau.v's header): index 0 is the weight memory, line nf*SF + sf, PE p, lane i at bits
// [(p*SIMD + i)*W_BITS +: W_BITS]; index 1 + j*T_UNITS + u is binary-search stage j of threshold unit u
// (L::T_UNITS units, each taking T_PER = PE/T_UNITS PEs: unit u's channel ch = nf*T_PER + i is PE
// u*T_PER + i of fold nf): key ch*2^j + q is T[nf*PE + u*T_PER + i][(q << (OUT_BITS-j)) + 2^(OUT_BITS-1-j) - 1],
// stage 0 one key per line, stage j >= 1 two keys per line (line r = {key 2r+1, key 2r}). Every threshold is
// in exactly one stage.
template <class L, class WT, class TT, class LINE>
void mvau_load_line(WT weights[L::PE][mvau_traits<L>::NF * mvau_traits<L>::SF][L::SIMD],
                    TT thresholds[L::PE][mvau_traits<L>::NF][mvau_traits<L>::NT], int index, int addr,
                    const LINE& line) {
#pragma HLS INLINE
  if (index == 0) {
    for (int p = 0; p < L::PE; p++) {
#pragma HLS UNROLL
      for (int i = 0; i < L::SIMD; i++) {
#pragma HLS UNROLL
        const int at = (p * L::SIMD + i) * L::W_BITS;
        const ap_int<L::W_BITS> w = line.range(at + L::W_BITS - 1, at);
        weights[p][addr][i] = w;
      }
    }
  } else if (!L::NO_ACT) {
    const int per = L::PE / L::T_UNITS;
    const int stage = (index - 1) / L::T_UNITS;
    const int u = (index - 1) % L::T_UNITS;
    const int entries = stage == 0 ? 1 : 2;
    for (int e = 0; e < 2; e++) {
#pragma HLS UNROLL
      if (e < entries) {
        const int key = addr * entries + e;
        const int ch = key >> stage;
        const int nf = ch / per;
        const int p = u * per + ch % per;
        const int q = key & ((1 << stage) - 1);
        const int k = (q << (L::OUT_BITS - stage)) + (1 << (L::OUT_BITS - 1 - stage)) - 1;
        const ap_int<L::ACC_BITS> t = line.range((e + 1) * L::ACC_BITS - 1, e * L::ACC_BITS);
        thresholds[p][nf][k] = t;
      }
    }
  }
}

}  // namespace hybrec

#endif  // HYBREC_MVAU_H
