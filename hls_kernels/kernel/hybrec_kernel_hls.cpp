// hybrec_kernel_hls.cpp: the kernel top — one input packet per call (docs/model-image.md). A query runs
// the dataflow region
//
//   s_axis ─► hist_agg ─► mvau 0 ─► … ─► mvau L-1 ─► scorer ─► hist_mask ─► topk ─► pack ─► m_axis
//                │ excluded ids ──────────────────────────────────▲                   ▲
//                └ flags ─────────────────────────────────────────────────────────────┘
//
// against the model held; a load writes the model's memories from its payload; a status request, a load
// and a bad header are answered with two status words.
//
// The shape comes from headers that `hybrec.compile.hls.write_hls_params` writes into BUILD/hls: params.h
// (the blocks' parameter structs and the load bus: memories, their widths and depths, the shape word),
// rom_recip.h (the reciprocal table, a function of lmax and agg_shift) and mlp.h (the shape's MVAU layers
// and their memories). Nothing trained is compiled in: the feature, weight, threshold and item memories
// below are file-scope statics that keep the model between calls and that only a load writes.
//
// The model memories are read by the query's dataflow processes and written by the load, never both in
// one call (one packet per call), so a load never changes the model under a query: the RTL gets the same
// by holding a load until every query before it has left the kernel.
//
// Initiation interval by design: the query processes are pipelined at II=1 (see hls_kernels/README.md);
// the load takes one payload word per clock.
#include "hybrec_kernel_hls.h"

#include "hist_agg/hist_agg.h"
#include "hist_mask/hist_mask.h"
#include "mvau/mvau.h"
#include "scorer/scorer.h"
#include "topk/topk.h"

#include "params.h"
#include "rom_recip.h"
#include "mlp.h"

namespace {

using hybrec_cfg::HistAggP;
using hybrec_cfg::LOAD_LAYER_BASE;
using hybrec_cfg::LOAD_MEM_LINES;
using hybrec_cfg::LOAD_MEM_WPL;
using hybrec_cfg::LoadP;
using hybrec_cfg::ScorerP;
using hybrec_cfg::TopkP;
typedef hybrec::topk_result<TopkP::ID_BITS, TopkP::SCORE_BITS> result_t;
typedef ap_uint<32 * LoadP::LINE_WORDS> line_t;

// ---- the model held ----------------------------------------------------------------------------------
hybrec::hist_agg_traits<HistAggP>::feature_t features[HistAggP::N][HistAggP::F];
ap_int<ScorerP::IBITS> items[ScorerP::LANES][hybrec::scorer_traits<ScorerP>::NROWS][ScorerP::D];
bool model_valid = false;
ap_uint<16> n_live = 0;  // items of the model held (0: none)
ap_uint<32> sum1 = 0;    // checksums of the last load's received payload words (docs/model-image.md)
ap_uint<32> sum2 = 0;

// ---- answers -----------------------------------------------------------------------------------------
void write_word(hls::stream<hybrec::result_beat>& m_axis, const ap_uint<64>& data, bool last) {
#pragma HLS INLINE
  hybrec::result_beat beat;
  beat.data = data;
  beat.keep = -1;
  beat.strb = -1;
  beat.last = last;
  m_axis.write(beat);
}

void answer_status(hls::stream<hybrec::result_beat>& m_axis, unsigned code) {
  ap_uint<64> w0 = 0;
  w0.range(31, 0) = LoadP::SHAPE_WORD;
  w0.range(47, 32) = n_live;
  w0.range(51, 48) = code;
  w0[52] = model_valid;
  w0.range(63, 56) = hybrec::STATUS_MARK;
  ap_uint<64> w1 = 0;
  w1.range(31, 0) = sum1;
  w1.range(63, 32) = sum2;
  write_word(m_axis, w0, false);
  write_word(m_axis, w1, true);
}

// Consume a packet's words up to its tlast.
void discard(hls::stream<hybrec::in_beat>& s_axis) {
  bool last = false;
drain:
  while (!last) {
#pragma HLS PIPELINE II=1
    last = s_axis.read().last;
  }
}

// ---- the query path ----------------------------------------------------------------------------------
// One 64-bit word per result: II=1, K clocks per query.
void pack_results(hls::stream<result_t>& results, hls::stream<hybrec::flags_t>& flags, bool with_model,
                  hls::stream<hybrec::result_beat>& m_axis) {
  const hybrec::flags_t f = flags.read() | (with_model ? 0u : hybrec::FLAG_NO_MODEL);
pack:
  for (int k = 0; k < TopkP::K; k++) {
#pragma HLS PIPELINE II=1
    const result_t r = results.read();
    ap_uint<64> word = 0;
    if (r.valid) {
      word.range(31, 0) = ap_int<32>(r.score);
      word.range(47, 32) = r.id;
      word[52] = 1;
    } else {
      word.range(47, 32) = hybrec::NO_ID;
    }
    word.range(51, 48) = f;
    write_word(m_axis, word, k == TopkP::K - 1);
  }
}

void query(hls::stream<hybrec::in_beat>& s_axis, bool head_last, ap_uint<16> n_hist, ap_uint<16> n_items,
           bool with_model, hls::stream<hybrec::result_beat>& m_axis) {
#pragma HLS DATAFLOW
  using namespace hybrec_cfg;
  hls::stream<hybrec::hist_agg_traits<HistAggP>::mean_word> mean("mean");
  hls::stream<hybrec::flags_t> flags("flags");
  hls::stream<hybrec::excl_token<HistAggP::ID_BITS> > excl("excl");
  hls::stream<hybrec::scorer_traits<ScorerP>::in_word> user("user");
  hls::stream<hybrec::scorer_traits<ScorerP>::row> rows("rows");
  hls::stream<hybrec::scorer_traits<ScorerP>::row> masked("masked");
  hls::stream<result_t> results("results");
  // hist_mask marks the excluded ids as hist_agg finds them, one per clock each: shallow FIFOs suffice.
#pragma HLS STREAM variable=flags depth=4
#pragma HLS STREAM variable=excl depth=4

  hybrec::hist_agg<HistAggP>(s_axis, head_last, n_hist, n_items, features, hybrec_rom::RECIP, mean, flags, excl);
  mlp(mean, user);
  hybrec::scorer<ScorerP>(user, items, n_items, rows);
  hybrec::hist_mask<MaskP>(excl, rows, masked);
  hybrec::topk<TopkP>(masked, results);
  pack_results(results, flags, with_model, m_axis);
}

// ---- the load path -----------------------------------------------------------------------------------
// One line of load-bus memory `mem` (docs/model-image.md: the memories in load order).
void write_line(int mem, int addr, const line_t& line) {
  if (mem < LOAD_LAYER_BASE[0]) {
    hybrec::hist_agg_load_line<HistAggP, LoadP::FEATURE_GROUPS>(features, mem - LoadP::HIST_AGG_BASE, addr, line);
  } else if (mem >= LoadP::SCORER_BASE) {
    hybrec::scorer_load_line<ScorerP, LoadP::ITEM_GROUP_BITS>(items, mem - LoadP::SCORER_BASE, addr, line);
  } else {
    hybrec_cfg::mlp_load_line(mem, addr, line);
  }
}

// The load packet after its header word: the shape word, n_items, the payload. Returns the status code.
unsigned load(hls::stream<hybrec::in_beat>& s_axis) {
  const hybrec::in_beat shape = s_axis.read();
  if (shape.data != LoadP::SHAPE_WORD) {
    if (!shape.last) discard(s_axis);
    return hybrec::CODE_WRONG_SHAPE;  // nothing written, the model held stays
  }
  if (shape.last) return hybrec::CODE_INTERRUPTED;

  // From the count word on, the kernel holds no model until the load completes.
  const hybrec::in_beat count = s_axis.read();
  model_valid = false;
  n_live = 0;
  sum1 = count.data;
  sum2 = count.data;
  if (count.data == 0 || count.data > LoadP::N_MAX) {
    if (!count.last) discard(s_axis);
    return hybrec::CODE_BAD_COUNT;
  }
  if (count.last) return hybrec::CODE_INTERRUPTED;

  line_t buffer = 0;
  int mem = 0;
  int addr = 0;
  int word = 0;
  bool last = false;
  int taken = 0;
payload:
  for (int w = 0; w < LoadP::PAYLOAD_WORDS; w++) {
#pragma HLS PIPELINE II=1
    const hybrec::in_beat beat = s_axis.read();
    sum1 += beat.data;
    sum2 += sum1;
    buffer.range(32 * word + 31, 32 * word) = beat.data;
    if (word == LOAD_MEM_WPL[mem] - 1) {
      write_line(mem, addr, buffer);
      word = 0;
      if (addr == LOAD_MEM_LINES[mem] - 1) {
        addr = 0;
        mem++;
      } else {
        addr++;
      }
    } else {
      word++;
    }
    taken = w + 1;
    last = beat.last;
    if (last) break;
  }
  if (taken < LoadP::PAYLOAD_WORDS) return hybrec::CODE_INTERRUPTED;
  if (!last) {
    discard(s_axis);
    return hybrec::CODE_OVERLONG;
  }
  model_valid = true;
  n_live = count.data.range(15, 0);
  return hybrec::CODE_OK;
}

}  // namespace

void hybrec_kernel_hls(hls::stream<hybrec::in_beat>& s_axis, hls::stream<hybrec::result_beat>& m_axis) {
#pragma HLS INTERFACE axis port=s_axis
#pragma HLS INTERFACE axis port=m_axis
#pragma HLS INTERFACE ap_ctrl_chain port=return
  using namespace hybrec_cfg;
  static_assert(HistAggP::OUT_PAR * HistAggP::FB == FirstLayerP::SIMD * FirstLayerP::IN_BITS,
                "hist_agg's beats must be the first MVAU's input beats");
  static_assert(ScorerP::IN_PAR * ScorerP::UBITS == LastLayerP::PE * LastLayerP::OUT_BITS,
                "the last MVAU's beats must be the scorer's input beats");
  static_assert(ScorerP::N < hybrec::NO_ID, "item ids must fit 16 bits, 0xFFFF out of range");
  static_assert(HistAggP::N == LoadP::N_MAX && ScorerP::N == LoadP::N_MAX, "one item capacity");

  const hybrec::in_beat head = s_axis.read();
  const unsigned kind = head.data.range(31, 24);
  if (kind == hybrec::KIND_QUERY) {
    query(s_axis, head.last, head.data.range(15, 0), n_live, model_valid, m_axis);
  } else if (kind == hybrec::KIND_LOAD) {
    // a load cut on its header touches nothing
    answer_status(m_axis, head.last ? hybrec::CODE_INTERRUPTED : load(s_axis));
  } else {
    if (!head.last) discard(s_axis);
    answer_status(m_axis, kind == hybrec::KIND_STATUS ? hybrec::CODE_OK : hybrec::CODE_BAD_HEADER);
  }
}
