// kernel_harness.cpp: drives the Verilated hybrec_kernel from C++ (no Python per clock cycle).
//
//   kernel_harness PACKETS EXPECTED REPORT SEED SOURCE_PAUSE SINK_PAUSE
//
// PACKETS:  one line per input packet: "n u_1 ... u_n", its 16-bit units (docs/model-image.md: the header
//           word's low half first; IDS_PER_BEAT units per beat, a compile-time constant from the build's
//           manifest; s_axis_tkeep marks the units of the last beat; tlast on it)
// EXPECTED: one line per packet: "m w_1 ... w_m" (the 64-bit words that answer it, decimal: a query's K
//           results, or the two status words of a load or status request)
// REPORT:   JSON written at the end: queries, mismatches, first mismatching query, cycles,
//           wall seconds, simulated cycles per second, per-query cycles (first input beat -> last
//           output beat) summary over the packets answered by results (not by status words).
// The input and output streams pause at random (probabilities SOURCE_PAUSE / SINK_PAUSE, xorshift PRNG
// seeded by SEED): a pause drops tvalid on the input and tready on the output for that cycle.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "Vhybrec_kernel.h"
#include "verilated.h"
#include "pause_rng.h"

#ifndef IDS_PER_BEAT
#error "compile with -DIDS_PER_BEAT=<ids per input beat> (the build manifest's kernel.interface.ids_per_beat)"
#endif

namespace {

size_t beats(size_t ids) { return (ids + IDS_PER_BEAT - 1) / IDS_PER_BEAT; }

using hybrec_sim::Rng;

std::vector<std::vector<uint64_t>> read_lines(const char* path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path);
    std::exit(2);
  }
  std::vector<std::vector<uint64_t>> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    uint64_t n = 0;
    fields >> n;
    std::vector<uint64_t> row(n);
    for (auto& v : row) fields >> v;
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s QUERIES EXPECTED REPORT SEED SOURCE_PAUSE SINK_PAUSE\n", argv[0]);
    return 2;
  }
  const auto queries = read_lines(argv[1]);
  const auto expected = read_lines(argv[2]);
  if (queries.size() != expected.size()) {
    std::fprintf(stderr, "%zu queries but %zu expected answers\n", queries.size(), expected.size());
    return 2;
  }
  Rng rng(std::stoull(argv[4]));
  const double src_pause = std::stod(argv[5]);
  const double snk_pause = std::stod(argv[6]);

  auto ctx = std::make_unique<VerilatedContext>();
  auto top = std::make_unique<Vhybrec_kernel>(ctx.get());
  top->ap_clk = 0;
  top->ap_rst_n = 0;
  top->s_axis_tvalid = 0;
  top->m_axis_tready = 0;
  for (int i = 0; i < 8; ++i) {
    top->ap_clk = 0;
    top->eval();
    top->ap_clk = 1;
    top->eval();
  }
  top->ap_rst_n = 1;

  const size_t nq = queries.size();
  size_t q_in = 0, beat_in = 0;   // next input beat
  size_t q_out = 0, beat_out = 0; // next expected output beat
  size_t mismatches = 0;
  long first_mismatch = -1;
  bool bad_query = false;
  std::vector<uint64_t> start(nq, 0), end(nq, 0);
  uint64_t cycle = 0;
  uint64_t total_beats = 0;
  for (const auto& q : queries) total_beats += beats(q.size());
  const uint64_t limit = 4 * total_beats + 2000ull * (nq + 10) + 100000;
  const auto t0 = std::chrono::steady_clock::now();

  while (q_out < nq && cycle < limit) {
    // inputs for this cycle (set while the clock is low, then sample the handshakes)
    top->ap_clk = 0;
    const bool src_go = q_in < nq && !rng.chance(src_pause);
    top->s_axis_tvalid = src_go;
    if (src_go) {
      // IDS_PER_BEAT ids per beat, id j of the beat in bits [16j +: 16]; tkeep has 2 bits per id
      const auto& ids = queries[q_in];
      uint64_t data = 0, keep = 0;
      for (size_t j = 0; j < IDS_PER_BEAT; ++j) {
        const size_t at = beat_in * IDS_PER_BEAT + j;
        if (at < ids.size()) {
          data |= static_cast<uint64_t>(static_cast<uint16_t>(ids[at])) << (16 * j);
          keep |= 3ull << (2 * j);
        }
      }
      top->s_axis_tdata = data;
      top->s_axis_tkeep = keep;
      top->s_axis_tlast = beat_in + 1 == beats(ids.size());
    } else {
      top->s_axis_tlast = 0;
    }
    top->m_axis_tready = !rng.chance(snk_pause);
    top->eval();
    const bool in_fire = top->s_axis_tvalid && top->s_axis_tready;
    const bool out_fire = top->m_axis_tvalid && top->m_axis_tready;
    const uint64_t word = top->m_axis_tdata;
    const bool last = top->m_axis_tlast;
    top->ap_clk = 1;
    top->eval();
    ++cycle;

    if (in_fire) {
      if (beat_in == 0) start[q_in] = cycle;
      if (++beat_in == beats(queries[q_in].size())) {
        ++q_in;
        beat_in = 0;
      }
    }
    if (out_fire) {
      const auto& want = expected[q_out];
      if (beat_out >= want.size() || want[beat_out] != word ||
          (last != (beat_out + 1 == want.size()))) {
        bad_query = true;
      }
      if (last || beat_out + 1 >= want.size()) {
        if (bad_query || beat_out + 1 != want.size() || !last) {
          ++mismatches;
          if (first_mismatch < 0) first_mismatch = static_cast<long>(q_out);
        }
        end[q_out] = cycle;
        ++q_out;
        beat_out = 0;
        bad_query = false;
      } else {
        ++beat_out;
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  top->final();

  uint64_t lat_min = ~0ull, lat_max = 0;
  double lat_sum = 0.0;
  size_t n_lat = 0;
  std::string status_cycles;   // first input beat -> last status word, per packet answered by status words
  for (size_t i = 0; i < q_out; ++i) {
    if (!expected[i].empty() && (expected[i][0] >> 56) == 0xA5) {  // a status answer (a load, a status request)
      status_cycles += (status_cycles.empty() ? "" : ", ") + std::to_string(end[i] - start[i] + 1);
      continue;
    }
    ++n_lat;
    const uint64_t lat = end[i] - start[i] + 1;
    lat_min = lat < lat_min ? lat : lat_min;
    lat_max = lat > lat_max ? lat : lat_max;
    lat_sum += static_cast<double>(lat);
  }
  std::FILE* out = std::fopen(argv[3], "w");
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", argv[3]);
    return 2;
  }
  std::fprintf(out,
               "{\"queries\": %zu, \"answered\": %zu, \"mismatches\": %zu, \"first_mismatch\": %ld, "
               "\"timed_out\": %s, \"cycles\": %llu, \"seconds\": %.3f, \"cycles_per_second\": %.1f, "
               "\"latency_cycles\": {\"min\": %llu, \"mean\": %.1f, \"max\": %llu}, "
               "\"status_packet_cycles\": [%s], \"source_pause\": %g, \"sink_pause\": %g}\n",
               nq, q_out, mismatches + (nq - q_out), first_mismatch, q_out < nq ? "true" : "false",
               static_cast<unsigned long long>(cycle), seconds, cycle / (seconds > 0 ? seconds : 1e-9),
               static_cast<unsigned long long>(n_lat ? lat_min : 0), n_lat ? lat_sum / n_lat : 0.0,
               static_cast<unsigned long long>(lat_max), status_cycles.c_str(), src_pause, snk_pause);
  std::fclose(out);
  return mismatches == 0 && q_out == nq ? 0 : 1;
}
