// kernel_tb.cpp: C-simulation of hybrec_kernel_hls against the golden model, packet by packet.
//
//   kernel_tb PACKETS EXPECTED RESULTS
//
// PACKETS:  one line per input packet: "n u_1 ... u_n", its 16-bit units (a 32-bit word is two units, the
//           low half first; an odd last unit is a word with tkeep 0b0011), tlast on the last word
//           (hybrec.builddir.GoldenVectors.write_text: a load first, then the queries)
// EXPECTED: one line per packet: "m w_1 ... w_m", the 64-bit words it is answered with (decimal)
// RESULTS:  written: one line per packet, the words the kernel produced (decimal)
// Prints "packets P mismatches M protocol_errors E first_mismatch F" and exits 0 only when M == E == 0. A
// protocol error is an input word left unread, a tlast anywhere but on the answer's last word, or an
// answer of another length than expected.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "hybrec_kernel_hls.h"

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

// A packet's 16-bit units as 32-bit beats.
void write_packet(hls::stream<hybrec::in_beat>& s, const std::vector<uint64_t>& units) {
  for (size_t i = 0; i < units.size(); i += 2) {
    const bool pair = i + 1 < units.size();
    hybrec::in_beat beat;
    beat.data = units[i] | (pair ? units[i + 1] << 16 : 0);
    beat.keep = pair ? 0xF : 0x3;
    beat.strb = beat.keep;
    beat.last = i + 2 >= units.size();
    s.write(beat);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PACKETS EXPECTED RESULTS\n", argv[0]);
    return 2;
  }
  const std::vector<std::vector<uint64_t> > packets = read_lines(argv[1]);
  const std::vector<std::vector<uint64_t> > expected = read_lines(argv[2]);
  if (packets.empty() || packets.size() != expected.size()) {
    std::fprintf(stderr, "%zu packets and %zu expected answers\n", packets.size(), expected.size());
    return 2;
  }
  std::ofstream results(argv[3]);
  long mismatches = 0;
  long protocol_errors = 0;
  long first_mismatch = -1;
  hls::stream<hybrec::in_beat> s_axis("s_axis");
  hls::stream<hybrec::result_beat> m_axis("m_axis");
  for (size_t p = 0; p < packets.size(); p++) {
    if (packets[p].empty()) {
      std::fprintf(stderr, "packet %zu has no words\n", p);
      return 2;
    }
    write_packet(s_axis, packets[p]);
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
      last_ok = last_ok && (beat.last == 1) == (got.size() == expected[p].size());
    }
    if (!last_ok || got.size() != expected[p].size()) protocol_errors++;
    results << got.size();
    for (uint64_t w : got) results << ' ' << w;
    results << '\n';
    if (got != expected[p]) {
      mismatches++;
      if (first_mismatch < 0) first_mismatch = static_cast<long>(p);
    }
  }
  std::printf("packets %zu mismatches %ld protocol_errors %ld first_mismatch %ld\n", packets.size(), mismatches,
              protocol_errors, first_mismatch);
  return mismatches == 0 && protocol_errors == 0 ? 0 : 1;
}
