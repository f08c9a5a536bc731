// kernel_tb.cpp: C-simulation of hybrec_kernel_hls against the golden vectors.
//
//   kernel_tb QUERIES EXPECTED RESULTS
//
// QUERIES:  one line per query: "n id_1 ... id_n" (the packet; tlast on id_n)
// EXPECTED: one line per query: "k w_1 ... w_k" (the golden 64-bit output words, decimal)
// RESULTS:  written: one line per query, the words the kernel produced (decimal)
// Prints "queries Q mismatches M protocol_errors E" and exits 0 only when M == E == 0. A protocol error is
// an input beat left unread, a tlast anywhere but on the K-th result, or a result too few or too many.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "hybrec_kernel_hls.h"
#include "params.h"
#include "tb_io.h"

namespace {

std::vector<std::vector<uint64_t> > read_lines(const char* path) {
  std::vector<std::vector<uint64_t> > rows;
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path);
    return rows;
  }
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    uint64_t n = 0;
    fields >> n;
    std::vector<uint64_t> row(n);
    for (uint64_t& v : row) fields >> v;
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s QUERIES EXPECTED RESULTS\n", argv[0]);
    return 2;
  }
  const std::vector<std::vector<uint64_t> > queries = read_lines(argv[1]);
  const std::vector<std::vector<uint64_t> > expected = read_lines(argv[2]);
  if (queries.empty() || queries.size() != expected.size()) {
    std::fprintf(stderr, "%zu queries and %zu expected answers\n", queries.size(), expected.size());
    return 2;
  }
  std::ofstream results(argv[3]);
  const int k = hybrec_cfg::TopkP::K;
  long mismatches = 0;
  long protocol_errors = 0;
  long first_mismatch = -1;
  hls::stream<hybrec::id_beat> s_axis("s_axis");
  hls::stream<hybrec::result_beat> m_axis("m_axis");
  for (size_t q = 0; q < queries.size(); q++) {
    const std::vector<uint64_t>& ids = queries[q];
    tb::write_packet(s_axis, ids);
    hybrec_kernel_hls(s_axis, m_axis);
    if (!s_axis.empty()) {
      protocol_errors++;
      while (!s_axis.empty()) s_axis.read();
    }
    std::vector<uint64_t> got;
    bool last_ok = true;
    while (!m_axis.empty()) {
      const hybrec::result_beat beat = m_axis.read();
      got.push_back(beat.data.to_uint64());
      last_ok = last_ok && (beat.last == 1) == (static_cast<int>(got.size()) == k);
    }
    if (!last_ok || static_cast<int>(got.size()) != k) protocol_errors++;
    results << got.size();
    for (uint64_t w : got) results << ' ' << w;
    results << '\n';
    if (got != expected[q]) {
      mismatches++;
      if (first_mismatch < 0) first_mismatch = static_cast<long>(q);
    }
  }
  std::printf("queries %zu mismatches %ld protocol_errors %ld first_mismatch %ld\n", queries.size(), mismatches,
              protocol_errors, first_mismatch);
  return mismatches == 0 && protocol_errors == 0 ? 0 : 1;
}
