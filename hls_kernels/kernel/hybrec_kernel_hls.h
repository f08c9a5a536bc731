// hybrec_kernel_hls.h: the whole recommendation kernel as one Vitis HLS top function.
//
// Same stream semantics as the RTL top hybrec_kernel (hw/kernel/README.md):
//   s_axis: one 16-bit item id per beat, tlast on the last id of a query's history;
//   m_axis: K 64-bit results per query, best first, tlast on the K-th:
//           [31:0] score (signed), [47:32] item id, [50:48] flags (numerics.FLAG_*), [51] valid;
//           a missing result (fewer than K items left) has valid 0, id 0xFFFF, score 0.
// One call answers one query (ap_ctrl_chain: the dataflow processes of consecutive calls overlap).
#ifndef HYBREC_KERNEL_HLS_H
#define HYBREC_KERNEL_HLS_H

#include "hybrec_hls.h"

void hybrec_kernel_hls(hls::stream<hybrec::id_beat>& s_axis, hls::stream<hybrec::result_beat>& m_axis);

#endif  // HYBREC_KERNEL_HLS_H
