// mvau_tb.cpp: C-simulation of mvau<L> for the parameter set in case.h (namespace tbcase: L,
// WEIGHTS[PE][NF*SF][SIMD], THRESHOLDS[PE][NF][NT], written by the Python test).
//   stdin:  V, then per vector MW values
//   stdout: per vector "n_out y_0 .. y_{n_out-1}" (signed when OUT_BIAS < 0 or NO_ACT)
#include "case.h"
#include "mvau/mvau.h"
#include "tb_io.h"

int main() {
  typedef tbcase::L L;
  typedef hybrec::mvau_traits<L> T;
  const bool out_signed = L::NO_ACT || L::OUT_BIAS < 0;
  const long long vectors = tb::next();
  for (long long v = 0; v < vectors; v++) {
    const std::vector<long long> x = tb::next_n(L::MW);
    hls::stream<typename T::in_word> in;
    hls::stream<typename T::out_word> out;
    for (int sf = 0; sf < T::SF; sf++) {
      typename T::in_word word = 0;
      for (int i = 0; i < L::SIMD; i++) {
        word.range((i + 1) * L::IN_BITS - 1, i * L::IN_BITS) = ap_int<L::IN_BITS + 1>(x[sf * L::SIMD + i]);
      }
      in.write(word);
    }
    hybrec::mvau<L>(in, out, tbcase::WEIGHTS, tbcase::THRESHOLDS);
    if (!in.empty()) return 3;
    tb::put(static_cast<long long>(out.size()) * L::PE);
    while (!out.empty()) {
      const typename T::out_word word = out.read();
      for (int p = 0; p < L::PE; p++) {
        const ap_uint<T::OUT_W> bits = word.range((p + 1) * T::OUT_W - 1, p * T::OUT_W);
        const ap_int<T::OUT_W> as_signed = bits;
        tb::put(out_signed ? as_signed.to_int64() : static_cast<long long>(bits.to_uint64()));
      }
    }
    tb::end_line();
  }
  return 0;
}
