// kernel_model.cpp: the Verilated hybrec_kernel as a shared library (libkernel.so) with a C interface,
// loaded with ctypes by the simulated PYNQ device (sw/hybrec/driver/simmodel.py). No Python runs per
// clock cycle: the caller queues whole packets and asks the model to run until something happens.
//
// Input side (what an AXI DMA's MM2S channel does): km_send() queues one packet of bytes. The bytes are
// cut into beats of KM_IN_BYTES (little-endian: byte 0 in tdata[7:0]); the last beat carries tlast and,
// when the kernel has s_axis_tkeep, a keep mask of its valid bytes (an odd number of 16-bit ids on a
// 32-bit stream ends with tkeep = 0b0011, as an AXI DMA sends it).
//
// Output side (what the S2MM channel does): km_recv() arms one destination of CAPACITY bytes; each
// accepted beat writes KM_OUT_BYTES there. The transfer ends at the kernel's tlast (event KM_OUT_DONE).
// A beat that no longer fits ends it with KM_OVERFLOW and is not accepted (the DMA's DMAIntErr).
// With no destination armed, tready is low, unless km_collect(1) made the model keep the words itself.
//
// Random backpressure: each cycle the input drops tvalid with probability src_pause and the output drops
// tready with probability snk_pause (xorshift PRNG, seeded), as the C++ harness does.
//
// Timing records (cycle numbers; cycle n is the n-th rising edge after reset): per input packet the
// cycles of its first and last accepted beat and its kind (the top byte of its header word, bits 31:24 of
// its first four bytes: docs/model-image.md), per output packet the cycles of its first and last beat.
// Every input packet is answered by one output packet, in order (a query by K result words, a load, a
// status request or a bad header by two status words), so the records pair by index; the kind tells the
// queries, whose latency is out_last[i] - in_first[i] + 1 (the harness's definition), from the rest.
//
// Compile-time parameters (set by hybrec.simulate.shared_model from the kernel's ports):
//   KM_IN_BYTES (2), KM_OUT_BYTES (8), KM_HAS_TKEEP (0).
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "Vhybrec_kernel.h"
#include "verilated.h"
#include "pause_rng.h"

#ifndef KM_IN_BYTES
#define KM_IN_BYTES 2
#endif
#ifndef KM_OUT_BYTES
#define KM_OUT_BYTES 8
#endif
#ifndef KM_HAS_TKEEP
#define KM_HAS_TKEEP 0
#endif

static_assert(KM_IN_BYTES >= 1 && KM_IN_BYTES <= 8, "input beats of 1..8 bytes");
static_assert(KM_OUT_BYTES >= 1 && KM_OUT_BYTES <= 8, "output beats of 1..8 bytes");

// Built with -DVL_USER_FATAL: a Verilator fatal error (e.g. a $readmem syntax error) becomes a C++
// exception that the C interface turns into an error code, instead of ending the host process.
void vl_fatal(const char* filename, int linenum, const char* hier, const char* msg) {
  (void)hier;
  throw std::runtime_error(std::string(filename ? filename : "?") + ":" + std::to_string(linenum) + ": " +
                           (msg ? msg : "Verilator fatal error"));
}

namespace {

constexpr int KM_ABI = 2;
enum : int { KM_IN_DONE = 1, KM_OUT_DONE = 2, KM_OVERFLOW = 4 };
enum : int { REC_IN_FIRST = 0, REC_IN_LAST = 1, REC_OUT_FIRST = 2, REC_OUT_LAST = 3, REC_IN_KIND = 4, N_REC = 5 };

using hybrec_sim::Rng;

struct Beat {
  uint64_t data;
  uint32_t keep;
  bool last;
};

struct Model {
  std::unique_ptr<VerilatedContext> ctx;
  std::unique_ptr<Vhybrec_kernel> top;
  Rng rng;
  double src_pause = 0.0, snk_pause = 0.0;
  std::deque<std::vector<Beat>> packets;
  std::deque<uint8_t> kinds;  // the header kind of each queued packet
  size_t beat = 0;  // next beat of packets.front()
  uint8_t* dst = nullptr;
  uint64_t capacity = 0, written = 0;
  bool armed = false, collect = false, out_open = false;
  std::vector<uint64_t> collected;
  uint64_t cycle = 0, beats_in = 0, beats_out = 0;
  std::vector<uint64_t> rec[N_REC];
  std::string error;

  explicit Model(uint64_t seed) : ctx(new VerilatedContext), rng(seed) {
    ctx->fatalOnError(false);
    ctx->fatalOnVpiError(false);
    top.reset(new Vhybrec_kernel(ctx.get()));
  }

  void reset(int cycles) {
    packets.clear();
    kinds.clear();
    beat = 0;
    out_open = false;
    top->ap_rst_n = 0;
    top->s_axis_tvalid = 0;
    top->s_axis_tlast = 0;
    top->m_axis_tready = 0;
    for (int i = 0; i < cycles; ++i) {
      top->ap_clk = 0;
      top->eval();
      top->ap_clk = 1;
      top->eval();
    }
    top->ap_clk = 0;
    top->eval();
    top->ap_rst_n = 1;
  }

  int step() {
    int events = 0;
    top->ap_clk = 0;
    const bool have = !packets.empty();
    const bool go = have && !rng.chance(src_pause);
    top->s_axis_tvalid = go;
    if (go) {
      const Beat& b = packets.front()[beat];
      top->s_axis_tdata = static_cast<std::remove_reference_t<decltype(top->s_axis_tdata)>>(b.data);
      top->s_axis_tlast = b.last;
#if KM_HAS_TKEEP
      top->s_axis_tkeep = static_cast<std::remove_reference_t<decltype(top->s_axis_tkeep)>>(b.keep);
#endif
    } else {
      top->s_axis_tlast = 0;
    }
    const bool room = armed && written + KM_OUT_BYTES <= capacity;
    const bool sink = room || (!armed && collect);
    const bool ready = sink && !rng.chance(snk_pause);
    top->m_axis_tready = ready;
    top->eval();
    const bool in_fire = go && top->s_axis_tready;
    const bool out_valid = top->m_axis_tvalid;
    const bool out_fire = ready && out_valid;
    const uint64_t word = static_cast<uint64_t>(top->m_axis_tdata);
    const bool last = top->m_axis_tlast;
    top->ap_clk = 1;
    top->eval();
    ++cycle;

    if (in_fire) {
      ++beats_in;
      if (beat == 0) {
        rec[REC_IN_FIRST].push_back(cycle);
        rec[REC_IN_KIND].push_back(kinds.front());
      }
      if (++beat == packets.front().size()) {
        rec[REC_IN_LAST].push_back(cycle);
        packets.pop_front();
        kinds.pop_front();
        beat = 0;
        events |= KM_IN_DONE;
      }
    }
    if (out_fire) {
      ++beats_out;
      if (!out_open) {
        rec[REC_OUT_FIRST].push_back(cycle);
        out_open = true;
      }
      if (last) {
        rec[REC_OUT_LAST].push_back(cycle);
        out_open = false;
      }
      if (armed) {
        std::memcpy(dst + written, &word, KM_OUT_BYTES);
        written += KM_OUT_BYTES;
        if (last) {
          armed = false;
          events |= KM_OUT_DONE;
        }
      } else {
        collected.push_back(word);
        if (last) events |= KM_OUT_DONE;
      }
    } else if (armed && !room && out_valid) {
      armed = false;  // the packet is longer than the destination: the DMA stops with an error
      events |= KM_OVERFLOW;
    }
    return events;
  }
};

template <typename F>
int guarded(Model* m, F&& body) {
  try {
    return body();
  } catch (const std::exception& err) {
    m->error = err.what();
  } catch (...) {
    m->error = "unknown C++ exception";
  }
  return -1;
}

}  // namespace

extern "C" {

int km_abi() { return KM_ABI; }
int km_in_bytes() { return KM_IN_BYTES; }
int km_out_bytes() { return KM_OUT_BYTES; }
int km_has_tkeep() { return KM_HAS_TKEEP; }

void* km_create(uint64_t seed, double src_pause, double snk_pause) {
  try {
    auto* m = new Model(seed);
    m->src_pause = src_pause;
    m->snk_pause = snk_pause;
    m->reset(8);
    return m;
  } catch (...) {
    return nullptr;
  }
}

void km_destroy(void* h) {
  auto* m = static_cast<Model*>(h);
  if (!m) return;
  try {
    m->top->final();
  } catch (...) {
  }
  delete m;
}

const char* km_error(void* h) { return static_cast<Model*>(h)->error.c_str(); }

void km_set_pauses(void* h, double src_pause, double snk_pause) {
  auto* m = static_cast<Model*>(h);
  m->src_pause = src_pause;
  m->snk_pause = snk_pause;
}

// ap_rst_n low for `cycles` clocks; pending input and a half-received output packet are dropped.
int km_reset(void* h, int cycles) {
  auto* m = static_cast<Model*>(h);
  return guarded(m, [&] {
    m->reset(cycles);
    return 0;
  });
}

// Queue one packet (tlast on its last beat). Returns the number of beats, or -1 for an empty packet.
int64_t km_send(void* h, const uint8_t* data, uint64_t nbytes) {
  auto* m = static_cast<Model*>(h);
  if (nbytes == 0) {
    m->error = "an AXI-Stream packet has at least one beat";
    return -1;
  }
  std::vector<Beat> beats;
  beats.reserve((nbytes + KM_IN_BYTES - 1) / KM_IN_BYTES);
  for (uint64_t at = 0; at < nbytes; at += KM_IN_BYTES) {
    Beat b{0, 0, false};
    for (int i = 0; i < KM_IN_BYTES && at + i < nbytes; ++i) {
      b.data |= static_cast<uint64_t>(data[at + i]) << (8 * i);
      b.keep |= 1u << i;
    }
    beats.push_back(b);
  }
  beats.back().last = true;
  m->packets.push_back(std::move(beats));
  m->kinds.push_back(nbytes >= 4 ? data[3] : 0);
  return static_cast<int64_t>(m->packets.back().size());
}

// Drop the input not yet accepted (a DMA reset); returns the number of beats dropped.
uint64_t km_abort_send(void* h) {
  auto* m = static_cast<Model*>(h);
  uint64_t dropped = 0;
  for (const auto& p : m->packets) dropped += p.size();
  dropped -= m->beat;
  m->packets.clear();
  m->kinds.clear();
  m->beat = 0;
  return dropped;
}

uint64_t km_pending_packets(void* h) { return static_cast<Model*>(h)->packets.size(); }

// Arm the output: the next beats are written to dst[0 .. capacity).
void km_recv(void* h, uint8_t* dst, uint64_t capacity) {
  auto* m = static_cast<Model*>(h);
  m->dst = dst;
  m->capacity = capacity;
  m->written = 0;
  m->armed = true;
}

void km_abort_recv(void* h) {
  auto* m = static_cast<Model*>(h);
  m->armed = false;
  m->dst = nullptr;
}

uint64_t km_recv_written(void* h) { return static_cast<Model*>(h)->written; }
int km_recv_armed(void* h) { return static_cast<Model*>(h)->armed ? 1 : 0; }

// Without an armed destination, keep the output words in the model (tready high) or not (tready low).
void km_collect(void* h, int enable) { static_cast<Model*>(h)->collect = enable != 0; }

uint64_t km_collected(void* h) { return static_cast<Model*>(h)->collected.size(); }

// Move up to n collected words to out; returns how many were moved.
uint64_t km_take(void* h, uint64_t* out, uint64_t n) {
  auto* m = static_cast<Model*>(h);
  const uint64_t k = n < m->collected.size() ? n : m->collected.size();
  std::memcpy(out, m->collected.data(), k * sizeof(uint64_t));
  m->collected.erase(m->collected.begin(), m->collected.begin() + static_cast<std::ptrdiff_t>(k));
  return k;
}

// Run up to max_cycles clocks; stop after the first cycle whose events intersect stop_mask.
// Returns the events of the last cycle run (0: the budget ran out first), or -1 on a fatal error.
int km_run(void* h, uint64_t max_cycles, int stop_mask) {
  auto* m = static_cast<Model*>(h);
  return guarded(m, [&] {
    for (uint64_t i = 0; i < max_cycles; ++i) {
      const int events = m->step();
      if (events & stop_mask) return events;
    }
    return 0;
  });
}

uint64_t km_cycle(void* h) { return static_cast<Model*>(h)->cycle; }
uint64_t km_beats_in(void* h) { return static_cast<Model*>(h)->beats_in; }
uint64_t km_beats_out(void* h) { return static_cast<Model*>(h)->beats_out; }

uint64_t km_records(void* h, int which) {
  auto* m = static_cast<Model*>(h);
  return which >= 0 && which < N_REC ? m->rec[which].size() : 0;
}

// Copy records [start, start + n) of one kind; returns how many were copied.
uint64_t km_copy_records(void* h, int which, uint64_t start, uint64_t* out, uint64_t n) {
  auto* m = static_cast<Model*>(h);
  if (which < 0 || which >= N_REC) return 0;
  const auto& r = m->rec[which];
  if (start >= r.size()) return 0;
  const uint64_t k = (r.size() - start) < n ? (r.size() - start) : n;
  std::memcpy(out, r.data() + start, k * sizeof(uint64_t));
  return k;
}

}  // extern "C"
