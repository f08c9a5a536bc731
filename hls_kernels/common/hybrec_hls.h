// hybrec_hls.h: what every HLS block of the kernel shares — the arbitrary-precision types, the
// AXI4-Stream word types, the element-type helper and the beat formats between the blocks.
//
// Written for Vitis HLS (C++14: no `if constexpr`, no inline variables) and compiled for
// C-simulation with g++ -std=c++17 against the Apache-2.0 ap_types headers of the hls4ml wheel.
#ifndef HYBREC_HLS_H
#define HYBREC_HLS_H

// The ap_types headers are included as system headers (-isystem); g++ still reports
// "uninitialized" warnings from inside them after inlining (their default constructors mask bits of
// a value they never set), so those two are silenced for the headers' lines only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <ap_int.h>
#include <hls_stream.h>
#ifndef HYBREC_NO_AP_AXI_SDATA
#include <ap_axi_sdata.h>
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace hybrec {

// ---- AXI4-Stream words (tdata, tkeep, tstrb, tlast; no tuser/tid/tdest) ----------------------------
#ifndef HYBREC_NO_AP_AXI_SDATA
template <int W>
using axis_word = ap_axiu<W, 0, 0, 0>;
#else
// C-simulation without Vitis: the hls4ml wheel has no ap_axi_sdata.h, so this stand-in carries the
// members of ap_axiu<W, 0, 0, 0> that the kernel uses, under the same names.
template <int W>
struct axis_word {
  ap_uint<W> data;
  ap_uint<(W + 7) / 8> keep;
  ap_uint<(W + 7) / 8> strb;
  ap_uint<1> last;
};
#endif

constexpr int IN_WIDTH = 32;   // s_axis_tdata: a header or payload word, or two 16-bit item ids
constexpr int OUT_WIDTH = 64;  // m_axis_tdata: a result word or a status word (docs/model-image.md)
typedef axis_word<IN_WIDTH> in_beat;
typedef axis_word<OUT_WIDTH> result_beat;

// numerics.FLAG_*: bits 51:48 of a result word
constexpr unsigned FLAG_EMPTY = 1;
constexpr unsigned FLAG_TRUNCATED = 2;
constexpr unsigned FLAG_BAD_ID = 4;
constexpr unsigned FLAG_NO_MODEL = 8;
typedef ap_uint<4> flags_t;

// protocol.py: packet kinds (the header word's top byte), status codes, the status words' mark
constexpr unsigned KIND_QUERY = 0x51;
constexpr unsigned KIND_LOAD = 0x4C;
constexpr unsigned KIND_STATUS = 0x53;
constexpr unsigned STATUS_MARK = 0xA5;
constexpr unsigned CODE_OK = 0;
constexpr unsigned CODE_INTERRUPTED = 1;
constexpr unsigned CODE_WRONG_SHAPE = 2;
constexpr unsigned CODE_BAD_HEADER = 3;
constexpr unsigned CODE_BAD_COUNT = 4;
constexpr unsigned CODE_OVERLONG = 5;
constexpr unsigned NO_ID = 0xFFFF;

// Id slot s (0, 1) of an input beat holds an id when both of its tkeep bits are set.
inline bool slot_kept(const in_beat& beat, int s) {
#pragma HLS INLINE
  return beat.keep[2 * s] && beat.keep[2 * s + 1];
}

// ---- helpers ------------------------------------------------------------------------------------------
// Bits to count 0 .. n-1 (at least 1); C++11-style recursion so every front-end takes it.
constexpr int clog2(int n) { return n <= 1 ? 0 : 1 + clog2((n + 1) / 2); }
constexpr int bits_for(int n) { return clog2(n) < 1 ? 1 : clog2(n); }

// ap_int<W> for a signed element, ap_uint<W> for an unsigned one.
template <int W, bool S>
struct elem {
  typedef ap_int<W> type;
};
template <int W>
struct elem<W, false> {
  typedef ap_uint<W> type;
};

// ---- beats between the blocks -------------------------------------------------------------------------
// An id the aggregation counted (the query's history to exclude); `last` marks the end of a query's
// list and carries no id.
template <int ID_BITS>
struct excl_token {
  ap_uint<ID_BITS> id;
  bool last;
};

// One scorer row: LANES candidates (item r*LANES + l in lane l), `valid` bit l = lane l is a candidate.
template <int LANES, int ID_BITS, int SCORE_BITS>
struct score_row {
  ap_int<SCORE_BITS> score[LANES];
  ap_uint<ID_BITS> id[LANES];
  ap_uint<LANES> valid;
  bool last;
};

// One top-K result (best first); valid = false only when fewer than K candidates were left.
template <int ID_BITS, int SCORE_BITS>
struct topk_result {
  ap_int<SCORE_BITS> score;
  ap_uint<ID_BITS> id;
  bool valid;
  bool last;
};

}  // namespace hybrec

#endif  // HYBREC_HLS_H
