// hybrec_kernel_hls.h: the whole recommendation kernel as one Vitis HLS top function.
//
// The stream protocol of the RTL top hybrec_kernel (docs/model-image.md):
//   s_axis: 32-bit words; every packet starts with a header word whose top byte is its kind: a query
//           (0x51, n_hist in bits 15:0, then two uint16 ids per word, tkeep 0b0011 on a last word of one
//           id), a load (0x4C, the shape word, n_items, every writable memory line by line), a status
//           request (0x53), or anything else (consumed up to tlast: BAD_HEADER);
//   m_axis: 64-bit words; a query's K result words, best first, tlast on the K-th:
//           [31:0] score (signed), [47:32] item id (0xFFFF when not valid), [51:48] flags
//           (numerics.FLAG_*, NO_MODEL 8), [52] valid; or two status words (tlast on the second):
//           {0xA5, 000, model held, code, n_items, shape word} and {s2, s1}.
// One call takes one input packet. The model lives in on-chip memories between calls; the kernel's
// shape word (params.h) is compiled in, the model never is.
#ifndef HYBREC_KERNEL_HLS_H
#define HYBREC_KERNEL_HLS_H

#include "hybrec_hls.h"

void hybrec_kernel_hls(hls::stream<hybrec::in_beat>& s_axis, hls::stream<hybrec::result_beat>& m_axis);

#endif  // HYBREC_KERNEL_HLS_H
