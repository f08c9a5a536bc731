// hybrec_kernel_hls.cpp: the dataflow top — hist_agg -> MVAU layers -> scorer -> hist_mask -> topk ->
// result words, chained with hls::stream (the RTL top is BUILD/rtl/hybrec_kernel.v).
//
//   s_axis ─► hist_agg ─► mvau 0 ─► … ─► mvau L-1 ─► scorer ─► hist_mask ─► topk ─► pack ─► m_axis
//                │ counted ids ───────────────────────────────────▲                   ▲
//                └ flags ─────────────────────────────────────────────────────────────┘
//
// The build's numbers come from headers that `hybrec.compile.hls.write_hls_params` writes into BUILD/hls:
// params.h (the blocks' parameter structs), rom_*.h (features, reciprocal table, MVAU weights and
// thresholds, item vectors) and mlp.h (the chain of the build's MVAU layers).
//
// Initiation interval by design: every process is pipelined at II=1 per beat, so a query occupies the
// slowest process for about max(n + F/NORM_PAR + F/SIMD_0, NROWS + K, NF*SF of each layer) clocks
// (n = history length, NROWS = ceil(N/LANES)), plus pipeline depths; see hls_kernels/README.md.
#include "hybrec_kernel_hls.h"

#include "hist_agg/hist_agg.h"
#include "hist_mask/hist_mask.h"
#include "mvau/mvau.h"
#include "scorer/scorer.h"
#include "topk/topk.h"

#include "params.h"
#include "rom_features.h"
#include "rom_items.h"
#include "rom_mvau.h"
#include "mlp.h"

namespace {

using hybrec_cfg::TopkP;
typedef hybrec::topk_result<TopkP::ID_BITS, TopkP::SCORE_BITS> result_t;

// One 64-bit word per result: II=1, K clocks per query.
void pack_results(hls::stream<result_t>& results, hls::stream<hybrec::flags_t>& flags,
                  hls::stream<hybrec::result_beat>& m_axis) {
  const hybrec::flags_t f = flags.read();
pack:
  for (int k = 0; k < TopkP::K; k++) {
#pragma HLS PIPELINE II=1
    const result_t r = results.read();
    ap_uint<hybrec::OUT_WIDTH> word = 0;
    if (r.valid) {
      word.range(31, 0) = ap_int<32>(r.score);
      word.range(47, 32) = r.id;
      word[51] = 1;
    } else {
      word.range(47, 32) = 0xFFFF;
    }
    word.range(50, 48) = f;
    hybrec::result_beat beat;
    beat.data = word;
    beat.keep = -1;
    beat.strb = -1;
    beat.last = k == TopkP::K - 1;
    m_axis.write(beat);
  }
}

}  // namespace

void hybrec_kernel_hls(hls::stream<hybrec::id_beat>& s_axis, hls::stream<hybrec::result_beat>& m_axis) {
#pragma HLS INTERFACE axis port=s_axis
#pragma HLS INTERFACE axis port=m_axis
#pragma HLS INTERFACE ap_ctrl_chain port=return
#pragma HLS DATAFLOW
  using namespace hybrec_cfg;
  static_assert(HistAggP::OUT_PAR * HistAggP::FB == FirstLayerP::SIMD * FirstLayerP::IN_BITS,
                "hist_agg's beats must be the first MVAU's input beats");
  static_assert(ScorerP::IN_PAR * ScorerP::UBITS == LastLayerP::PE * LastLayerP::OUT_BITS,
                "the last MVAU's beats must be the scorer's input beats");
  static_assert(ScorerP::N < (1 << hybrec::IN_WIDTH), "item ids must fit the 16-bit input");

  hls::stream<hybrec::hist_agg_traits<HistAggP>::mean_word> mean("mean");
  hls::stream<hybrec::flags_t> flags("flags");
  hls::stream<hybrec::excl_token<HistAggP::ID_BITS> > excl("excl");
  hls::stream<hybrec::scorer_traits<ScorerP>::in_word> user("user");
  hls::stream<hybrec::scorer_traits<ScorerP>::row> rows("rows");
  hls::stream<hybrec::scorer_traits<ScorerP>::row> masked("masked");
  hls::stream<result_t> results("results");
#pragma HLS STREAM variable=flags depth=4
#pragma HLS STREAM variable=excl depth=4

  hybrec::hist_agg<HistAggP>(s_axis, hybrec_rom::FEATURES, hybrec_rom::RECIP, mean, flags, excl);
  mlp(mean, user);
  hybrec::scorer<ScorerP>(user, hybrec_rom::ITEMS, rows);
  hybrec::hist_mask<MaskP>(excl, rows, masked);
  hybrec::topk<TopkP>(masked, results);
  pack_results(results, flags, m_axis);
}
