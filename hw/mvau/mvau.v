// mvau.v: FINN-style matrix-vector-activation unit with PE x SIMD folding and multi-thresholding.
//
//   acc[c] = sum_r x[r] * W[r][c]                      (r < MW, c < MH, exact in ACC_BITS signed bits)
//   y[c]   = sum_k [acc[c] >= T[c][k]] + OUT_BIAS      (k < 2^OUT_BITS - 1, T[c][*] ascending)
//   y[c]   = acc[c]                                    (when NO_ACT != 0)
//
// Streams (AXI4-Stream, ap_clk / synchronous active-low ap_rst_n):
//   s_axis: SF = MW/SIMD beats per vector, element r = sf*SIMD + i at tdata[i*IN_BITS +: IN_BITS].
//   m_axis: NF = MH/PE beats per vector, channel c = nf*PE + p at tdata[p*OUT_W +: OUT_W], where
//           OUT_W = OUT_BITS (y, two's complement when OUT_BIAS < 0) or ACC_BITS (NO_ACT, signed);
//           tlast marks the last beat of each vector. There is no s_axis_tlast: vectors are counted.
//
// Schedule: step (nf, sf) multiplies input word sf with weight word nf*SF + sf in all PEs at once;
// a vector takes NF*SF steps, one per cycle when neither stream stalls. The input vector is kept in
// a ping-pong buffer of 2*SF words: the first neuron fold consumes words as soon as they arrive, the
// other folds reuse them, and the next vector fills the other bank meanwhile.
//
// Pipeline (edges after the issue of a step): 1 buffer/weight read (+2 when the buffer is block RAM: IB_EXTRA;
// else +1 when the weight memory is: W_EXTRA), 2 dot product (mvau_dot: DOT_LAT more edges when DOT_ADDS > 0), 3 add
// into the accumulator, then the thresholds (none when NO_ACT): the fold's PE accumulators are captured and fed,
// one channel per cycle, to T_UNITS binary searches (T_UNITS: the fewest dividing PE with T_PER = PE/T_UNITS
// <= SF, so they keep up with one fold per SF steps) of OUT_BITS stages each, and their answers collected
// into one beat (T_PER + 1 + OUT_BITS edges), then an output FIFO. Issue of a neuron fold's last step waits
// for a FIFO credit, so the pipeline itself never stalls.
//
// Memories, written through the load bus (ld_*: one line per ld_valid, LSB-aligned in ld_data; PE 0 in the
// least significant bits of a line), memory index relative to LD_BASE:
//   0                    weights: NF*SF lines of PE*SIMD*W_BITS bits; line nf*SF + sf, PE p, lane i holds
//                        W[sf*SIMD + i][nf*PE + p] at bits [(p*SIMD + i)*W_BITS +: W_BITS].
//   1 + j*T_UNITS + u    thresholds of binary-search stage j = 0 .. OUT_BITS-1 and unit u (none with NO_ACT):
//                        unit u's channel ch = nf*T_PER + i is c = nf*PE + u*T_PER + i; key ch*2^j + q selects
//                        the ACC_BITS entry T[c][(q << (OUT_BITS-j)) + 2^(OUT_BITS-1-j) - 1]. Stage 0:
//                        NF*T_PER lines of one entry; stage j >= 1: NF*T_PER*2^(j-1) lines {entry 2r+1, entry 2r}.
// The bus is registered (LB), decoded into per-memory write enables beside per-memory copies of the line
// and address (LW), and written at the next edge: three edges after ld_valid. A load happens only while
// no vector is inside (the kernel's controller guarantees it), so a write never meets a read of its line.
// sw/hybrec/compile/blocks/mvau.py (weight_words, threshold_stage_words) gives the lines.
`default_nettype none

module mvau #(
    parameter integer MW          = 8,
    parameter integer MH          = 4,
    parameter integer SIMD        = 2,
    parameter integer PE          = 2,
    parameter integer IN_BITS     = 4,
    parameter integer IN_SIGNED   = 0,
    parameter integer W_BITS      = 4,
    parameter integer ACC_BITS    = 16,
    parameter integer OUT_BITS    = 4,
    /* verilator lint_off UNUSEDPARAM */
    parameter integer OUT_BIAS    = 0,
    parameter integer NO_ACT      = 0,
    parameter integer LUT_MULT    = 0,   // 1: products from shifts and adds (fabric), 0: `*` (DSP blocks)
    parameter integer LOGIC_DEPTH = 256, // threshold stages of at most this many lines: LUT logic, not block RAM
    parameter integer WLOGIC_DEPTH = 64, // weight memorys of at most this many lines: LUT logic, not block RAM
    parameter integer DOT_ADDS    = 2,   // adder levels per pipeline stage of the dot products (0: one cycle)
    parameter integer X_GROUP     = 8,   // PEs per copy of the input register and of the step enable
    parameter integer IB_LUT_WORDS = 32, // input buffers of at most this many words (both banks): LUT RAM
    // load bus: memory index of the weight memory, and the bus widths (set by the kernel top)
    parameter integer LD_BASE      = 0,
    parameter integer LD_MEM_BITS  = 8,
    parameter integer LD_ADDR_BITS = 16,
    parameter integer LD_DATA_BITS = (PE * SIMD * W_BITS > 2 * ACC_BITS) ? PE * SIMD * W_BITS : 2 * ACC_BITS
    /* verilator lint_on UNUSEDPARAM */
) (
    input  wire                                                ap_clk,
    input  wire                                                ap_rst_n,
    // load bus (see the header); ld_active is not needed here: writes are told by ld_valid alone
    input  wire                                                ld_valid,
    input  wire [LD_MEM_BITS-1:0]                              ld_mem,
    input  wire [LD_ADDR_BITS-1:0]                             ld_addr,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [LD_DATA_BITS-1:0]                             ld_data,   // bits above this block's widest line: unused
    /* verilator lint_on UNUSEDSIGNAL */
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire                                                ld_active,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [SIMD*IN_BITS-1:0]                             s_axis_tdata,
    input  wire                                                s_axis_tvalid,
    output wire                                                s_axis_tready,
    output wire [PE*((NO_ACT != 0) ? ACC_BITS : OUT_BITS)-1:0] m_axis_tdata,
    output wire                                                m_axis_tvalid,
    input  wire                                                m_axis_tready,
    output wire                                                m_axis_tlast
);
  // Register stages of mvau_dot (its rule): 0 when DOT_ADDS = 0, else 1 (products) + registered levels.
  function integer dot_latency;
    input integer simd, adds;
    integer levels, h;
    begin
      levels = $clog2(simd);
      dot_latency = (adds > 0) ? 1 : 0;
      if (adds > 0) begin
        for (h = 1; h <= levels; h = h + 1) begin
          if ((h % adds == 0) || (h == levels)) dot_latency = dot_latency + 1;
        end
      end
    end
  endfunction

  // Threshold pair stages (j >= 1) in block RAM (more than LOGIC_DEPTH / 2 pairs): each takes two cycles (below).
  function integer block_pair_stages;
    input integer nch, stages, logic_depth;
    integer jj;
    begin
      block_pair_stages = 0;
      for (jj = 1; jj < stages; jj = jj + 1)
        if (((nch << jj) / 2) > logic_depth / 2) block_pair_stages = block_pair_stages + 1;
    end
  endfunction

  // The fewest threshold units d (a divisor of PE) with PE / d <= SF: a unit takes one channel per cycle.
  function integer threshold_units;
    input integer pe, sf;
    integer d;
    begin
      threshold_units = pe;
      for (d = pe; d >= 1; d = d - 1) begin
        if (pe % d == 0 && pe / d <= sf) threshold_units = d;
      end
    end
  endfunction

  localparam integer SF      = MW / SIMD;                     // input beats per vector
  localparam integer NF      = MH / PE;                       // output beats per vector
  localparam integer OUT_W   = (NO_ACT != 0) ? ACC_BITS : OUT_BITS;
  localparam integer STAGES  = (NO_ACT != 0) ? 0 : OUT_BITS;  // binary-search stages
  localparam integer IB_W    = $clog2(2 * SF);                 // word counters sf, waddr (>= 1)
  localparam integer SFW     = (SF > 1) ? $clog2(SF) : 1;     // a word's address in its bank
  localparam integer NF_W    = (NF > 1) ? $clog2(NF) : 1;
  localparam integer WA_W    = (NF * SF > 1) ? $clog2(NF * SF) : 1;
  localparam integer DOT_LAT = dot_latency(SIMD, DOT_ADDS);   // extra cycles of the pipelined dot products
  localparam integer IB_WORDS = 2 << SFW;                      // the input buffer's two banks
  localparam integer IB_EXTRA = (IB_WORDS > IB_LUT_WORDS) ? 2 : 0;  // block RAM: read, copy, group copies
  localparam integer WBLOCK  = (NF * SF > WLOGIC_DEPTH) ? 1 : 0;  // the weight memory is block RAM
  // a block-RAM weight memory's line goes through one plain copy before the PEs, unless the block-RAM input
  // buffer's two copies (IB_EXTRA) already give it two
  localparam integer W_EXTRA = (WBLOCK != 0 && IB_EXTRA == 0) ? 1 : 0;
  // threshold units (none with NO_ACT): the fewest that divide PE and take at most SF channels each
  localparam integer T_UNITS = (NO_ACT != 0) ? 1 : threshold_units(PE, SF);
  localparam integer T_PER   = PE / T_UNITS;                  // channels per unit and beat
  localparam integer TP_W    = $clog2(T_PER + 1) - 1;          // ser_left: 0 .. T_PER
  localparam [TP_W:0] TP_ONE = 1;
  localparam integer NCH     = NF * T_PER;                     // channels per unit and vector
  localparam integer NCH_LAST = NCH - 1;
  localparam integer CH_W    = (NCH > 1) ? $clog2(NCH) : 1;
  localparam integer T_LINES = (STAGES > 1) ? (NCH << (STAGES - 2)) : NCH;  // the deepest threshold memory
  localparam integer T_AW    = (T_LINES > 1) ? $clog2(T_LINES) : 1;
  localparam integer T_BLOCK = (NO_ACT != 0) ? 0 : block_pair_stages(NCH, STAGES, LOGIC_DEPTH);
  // issue edge to FIFO write edge; the thresholds add the serializer (T_PER), the collector (1) and a cycle
  // per block-RAM pair stage
  localparam integer LATENCY = 3 + IB_EXTRA + W_EXTRA + DOT_LAT + STAGES + ((NO_ACT != 0) ? 0 : T_PER + 1 + T_BLOCK);
  localparam integer FIFO_D  = 1 << $clog2(LATENCY + 3);       // enough credits for one step a cycle
  localparam integer FD_W    = $clog2(FIFO_D);
  localparam integer FW      = PE * OUT_W + 1;                // FIFO word: {tlast, tdata}
  localparam integer FIFO_DM1_I = FIFO_D - 1;
  localparam [FD_W:0] FIFO_D_M1 = FIFO_DM1_I[FD_W:0];
  localparam integer SF_LAST = SF - 1;
  localparam integer SF_LAST_M1 = (SF > 1) ? SF - 2 : 0;       // (unused when SF == 1: every step is a last)
  localparam integer NF_LAST = NF - 1;
  localparam integer WA_LAST = NF * SF - 1;
  localparam integer WA_AFTER_0_I = (WA_LAST == 0) ? 0 : 1;   // wa_nxt after reset
  localparam [WA_W-1:0] WA_AFTER_0 = WA_AFTER_0_I[WA_W-1:0];
  localparam integer NXC     = (PE + X_GROUP - 1) / X_GROUP;  // copies of the input register
  localparam integer XW      = SIMD * IN_BITS;
  localparam integer NIC     = NXC + WBLOCK;                     // copies of the issue conditions
  // the load bus' data bits this block uses: the weight line, or a threshold pair stage's two entries
  localparam integer LB_D    = (NO_ACT == 0 && 2 * ACC_BITS > PE * SIMD * W_BITS) ? 2 * ACC_BITS : PE * SIMD * W_BITS;

  // ---------------------------------------------------------------- elaboration-time checks
  // An impossible configuration instantiates a module that does not exist; its name is the message.
  generate
    if (MW % SIMD != 0) begin : g_check_simd
      mvau_error_MW_not_a_multiple_of_SIMD u_error ();
    end
    if (MH % PE != 0) begin : g_check_pe
      mvau_error_MH_not_a_multiple_of_PE u_error ();
    end
    if (X_GROUP < 1) begin : g_check_x_group
      mvau_error_X_GROUP_must_be_positive u_error ();
    end
    if (NO_ACT == 0 && (OUT_BITS < 1 || OUT_BITS > 8)) begin : g_check_out_bits
      mvau_error_OUT_BITS_not_in_1_to_8 u_error ();
    end
    if (LD_DATA_BITS < PE * SIMD * W_BITS || (NO_ACT == 0 && LD_DATA_BITS < 2 * ACC_BITS)
        || LD_ADDR_BITS < WA_W || (NO_ACT == 0 && LD_ADDR_BITS < T_AW) || LD_BASE + 1 + STAGES * T_UNITS > (1 << LD_MEM_BITS)) begin : g_check_load_bus
      mvau_error_load_bus_too_narrow u_error ();
    end
  endgenerate

  // ---------------------------------------------------------------- load bus
  // LB: this block's own copy of the bus; each memory then registers its write enable (the decoded index)
  // and its copies of the line and address (LW), and writes at the next edge.
  reg                    lb_v;
  reg [LD_MEM_BITS-1:0]  lb_mem;
  /* verilator lint_off UNUSEDSIGNAL */
  reg [LD_ADDR_BITS-1:0] lb_addr;   // bits above a memory's address: unused
  reg [LB_D-1:0]         lb_data;   // the widest line of this block's memories
  /* verilator lint_on UNUSEDSIGNAL */
  // `keep`: without it Yosys merges the blocks' equal copies into one, placed beside one block, and the
  // others' write data crosses the chip from it
  (* keep *) always @(posedge ap_clk) begin
    lb_v    <= ap_rst_n && ld_valid;
    lb_mem  <= ld_mem;
    lb_addr <= ld_addr;
    lb_data <= ld_data[LB_D-1:0];
  end

  // ---------------------------------------------------------------- input ping-pong buffer
  // Bank b's word i at {b, i}: the bank offset is a power of two, so neither address needs an adder.
  // (The memory itself is declared with its reads, in stage 1.)
  reg                     in_rdy;     // s_axis_tready: low during reset and the cycle after it, else ~full[wbank]
  reg                     wbank;      // bank being written
  reg  [IB_W-1:0]         waddr;      // next word to write in wbank
  reg  [1:0]              full;       // bank holds a whole vector that compute has not finished
  wire                    in_fire = s_axis_tvalid & s_axis_tready;
  wire                    in_vend = (waddr == SF_LAST[IB_W-1:0]);
  wire [SFW:0]            ib_waddr = {wbank, waddr[SFW-1:0]};

  // A register (from the next values of full and wbank), so the producer's enables that take
  // s_axis_tready start at a flip-flop (the serializer's 768-bit word shifts on it).
  assign s_axis_tready = in_rdy;


  // ---------------------------------------------------------------- step issue
  // `issue` decides the step state; the three conditions it is made of are registers of their own,
  // computed from the next values of the state they describe (copies of them enable the PEs' registers):
  //   word_ok_q   == full[rbank] | ((wbank == rbank) & (waddr > sf))   word sf of the read bank is there
  //   credit_ok_q == (in_flight + popped != FIFO_D)                    the output FIFO has room (popped: a
  //                                                                    beat left it at the last edge)
  //   step_last_q == (sf == SF_LAST)
  reg             rbank;              // bank compute reads
  reg  [IB_W-1:0] sf;                 // SIMD fold of the next step
  reg  [IB_W-1:0] sf_inc;             // == sf + 1 (IB_W holds SF)
  reg             inc_last;           // == (sf_inc == SF_LAST): the step after this one is the fold's last
  localparam [IB_W-1:0] IB_ONE = 1;
  reg  [NF_W-1:0] nf;                 // neuron fold of the next step
  reg  [WA_W-1:0] wa;                 // weight memory address of the next step (nf*SF + sf)
  reg  [WA_W-1:0] wa_nxt;             // == the address after it: wa == WA_LAST ? 0 : wa + 1
  reg  [FD_W:0]   in_flight;          // neuron folds issued whose output beat has not left the FIFO
  reg             word_ok_q, credit_ok_q, step_last_q;
  wire            step_last = step_last_q;
  wire            step_vend = step_last & (nf == NF_LAST[NF_W-1:0]);
  wire            issue     = word_ok_q & (~step_last | credit_ok_q);
  reg             ovalid;             // the output FIFO is not empty (m_axis_tvalid has a copy of its own)
  wire            out_fire  = ovalid & m_axis_tready;

  // next state
  wire            done_wr  = in_fire & in_vend;               // the write bank is complete at this edge
  wire            wbank_n  = wbank ^ done_wr;
  wire [IB_W-1:0] waddr_n  = in_fire ? (in_vend ? {IB_W{1'b0}} : waddr + 1'b1) : waddr;
  // full, rbank and sf without a step (full_w, rbank, sf) and with one (full_1, rbank_1, sf_1); a step
  // that ends the vector finishes the read bank (never the bank the writer completes in this cycle)
  reg  [1:0]      full_w, full_1;
  always @* begin
    full_w = full;
    if (done_wr) full_w[wbank] = 1'b1;
    full_1 = full_w;
    if (step_vend) full_1[rbank] = 1'b0;
  end
  wire            rbank_1  = rbank ^ step_vend;
  wire [IB_W-1:0] sf_1     = step_last ? {IB_W{1'b0}} : sf + 1'b1;
  wire [1:0]      full_n   = issue ? full_1 : full_w;
  wire            rbank_n  = issue ? rbank_1 : rbank;
  wire [IB_W-1:0] sf_n     = issue ? sf_1 : sf;
  wire            fold_in  = issue & step_last;
  // out_fire (from the consumer's ready) picks last, between counts worked out from registers
  wire [FD_W:0]   in_flight_n = out_fire ? (fold_in ? in_flight : in_flight - 1'b1)
                                         : (fold_in ? in_flight + 1'b1 : in_flight);

  // The next values of the three conditions, once for a cycle without a step (_0) and once with one (_1);
  // `issue` only picks between them at the end, so its net (the whole step state hangs on it) is not in
  // series with the compare and the credit count (issue -> sf_n -> waddr > sf -> word_ok in series is too
  // slow for 100 MHz on the ECP5).
  // word_ok's next value is worked out twice from registers only, once for each value of in_fire (the
  // producer's s_axis_tvalid comes late), which then picks one: the compares waddr_n > sf and waddr_n > sf_1
  // are compares of registers (waddr_n is waddr, waddr + 1 or 0; sf_1 is sf + 1 or 0). Otherwise in_fire
  // runs through the waddr_n mux into the compare's carry chain, or through seven LUTs: too slow on the ECP5.
  // (written `a < b`: Yosys 0.70 builds `b > a` for the ECP5 as a carry chain plus a LUT tree for equality)
  wire            w_gt_sf   = sf < waddr;
  wire            w_ge_sf   = waddr >= sf;
  wire            w_gt_sf1  = sf_inc < waddr;
  wire            w_nz      = waddr != {IB_W{1'b0}};
  wire [1:0]      word_ok_f;          // [f]: word_ok's next value if in_fire == f
  genvar fi;
  generate
    for (fi = 0; fi < 2; fi = fi + 1) begin : g_word_ok
      localparam      F    = (fi != 0);
      wire            done = F & in_vend;                                   // done_wr
      wire            wb_n = wbank ^ done;                                  // wbank_n
      wire [1:0]      fw   = full | ({1'b0, done} << wbank);                // full_w
      wire [1:0]      f1   = fw & ~({1'b0, step_vend} << rbank);            // full_1
      wire            gt0  = F ? (~in_vend & w_ge_sf) : w_gt_sf;            // waddr_n > sf
      wire            gt1  = step_last ? (F ? ~in_vend : w_nz)              // waddr_n > sf_1
                                       : (F ? (~in_vend & w_gt_sf) : w_gt_sf1);
      wire            ok0  = fw[rbank] | ((wb_n == rbank) & gt0);
      wire            ok1  = f1[rbank_1] | ((wb_n == rbank_1) & gt1);
      assign word_ok_f[fi] = issue ? ok1 : ok0;
    end
  endgenerate
  wire            word_ok_n   = word_ok_f[in_fire];
  // credit_ok's next value counts this cycle's output beat as still in the FIFO: (in_flight + fold_in) !=
  // FIFO_D, from compares of the count register with constants. The consumer's ready comes late and reaches
  // no credit register (through the count's adder into credit_ok, then as one LUT's output net to every
  // group's copy, it would be too slow for 100 MHz on the ECP5). It can only withhold a credit for
  // one cycle while in_flight sits at FIFO_D - 1, which needs a consumer that stalls: with m_axis_tready
  // high, in_flight stays below that (FIFO_D >= LATENCY + 3), so throughput and latency are unchanged.
  wire            infl_eq_dm1 = in_flight == FIFO_D_M1;   // + 1 would reach FIFO_D
  wire            infl_eq_d   = in_flight == FIFO_D[FD_W:0];
  wire            credit_ok_n = ~((issue & step_last) ? infl_eq_dm1 : infl_eq_d);
  // (sf_1 == SF_LAST) from registers alone: sf_1 is 0 after a fold's last step, else sf_inc; an adder and
  // a compare in front of the copies' net are too slow for 100 MHz on the ECP5
  wire            step_last_n = issue ? (step_last ? (SF_LAST == 0) : inc_last) : step_last;

  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      in_rdy      <= 1'b0;
      wbank       <= 1'b0;
      waddr       <= {IB_W{1'b0}};
      full        <= 2'b00;
      rbank       <= 1'b0;
      sf          <= {IB_W{1'b0}};
      sf_inc      <= IB_ONE;
      inc_last    <= (SF_LAST == 1);
      nf          <= {NF_W{1'b0}};
      wa          <= {WA_W{1'b0}};
      wa_nxt      <= WA_AFTER_0;
      in_flight   <= {(FD_W+1){1'b0}};
    end else begin
      in_rdy      <= issue ? ~full_1[wbank_n] : ~full_w[wbank_n];
      wbank       <= wbank_n;
      waddr       <= waddr_n;
      full        <= full_n;
      rbank       <= rbank_n;
      sf          <= sf_n;
      if (issue) begin
        sf_inc   <= step_last ? IB_ONE : sf_inc + 1'b1;
        inc_last <= step_last ? (SF_LAST == 1) : (sf_inc == SF_LAST_M1[IB_W-1:0]);
      end
      in_flight   <= in_flight_n;
      if (issue) begin
        wa     <= wa_nxt;
        wa_nxt <= (wa_nxt == WA_LAST[WA_W-1:0]) ? {WA_W{1'b0}} : wa_nxt + 1'b1;
        if (step_vend)      nf <= {NF_W{1'b0}};
        else if (step_last) nf <= nf + 1'b1;
      end
    end
  end

  // `keep` on these and on every copy below: Yosys merges equal flip-flops (it would make one group's copy the
  // step state's `issue`, placed with that group).
  (* keep *) always @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      word_ok_q   <= 1'b0;
      credit_ok_q <= 1'b1;
      step_last_q <= (SF_LAST == 0);
    end else begin
      word_ok_q   <= word_ok_n;
      credit_ok_q <= credit_ok_n;
      step_last_q <= step_last_n;
    end
  end

  // The same three registers again for every group of X_GROUP PEs (g_issue[c]) and for the weight memory's
  // read address (index NXC, a block-RAM ROM only): each copy's `issue` enables only its group's input and
  // weight registers, so `issue` itself drives the step state alone (one `issue` into all of MVAU 0's 32 PEs is
  // too long a net for 100 MHz on the ECP5).
  wire [NIC-1:0] issue_g;
  genvar c;
  generate
    for (c = 0; c < NIC; c = c + 1) begin : g_issue
      reg word_ok_c, credit_ok_c, step_last_c;
      (* keep *) always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
          word_ok_c   <= 1'b0;
          credit_ok_c <= 1'b1;
          step_last_c <= (SF_LAST == 0);
        end else begin
          word_ok_c   <= word_ok_n;
          credit_ok_c <= credit_ok_n;
          step_last_c <= step_last_n;
        end
      end
      assign issue_g[c] = word_ok_c & (~step_last_c | credit_ok_c);
    end
  endgenerate

  // ---------------------------------------------------------------- stage 1: buffer and weight reads
  wire [NXC*XW-1:0]         s1_x;     // input word, one copy per PE group (kept: each feeds X_GROUP PEs;
                                      // IB_EXTRA: plain copies of x_o; W_EXTRA: a cycle later)
  wire [PE*SIMD*W_BITS-1:0] s1_w;
  reg                      s1_valid, s1_first, s1_last, s1_vend;
  reg [NF_W-1:0]           s1_nf;

  // The weight line of the step being issued; each PE group's copy of `issue` takes its slice into w_q.
  wire [PE*SIMD*W_BITS-1:0] w_line;
  reg  [PE*SIMD*W_BITS-1:0] w_q;
  assign s1_w = w_q;

  // The weight memory's write (memory LD_BASE + 0): LW registers, then the write.
  localparam integer WW = PE * SIMD * W_BITS;
  localparam integer W_MEM_I = LD_BASE;
  localparam [LD_MEM_BITS-1:0] W_MEM = W_MEM_I[LD_MEM_BITS-1:0];
  reg            w_we;
  reg [WA_W-1:0] w_waddr;
  reg [WW-1:0]   w_wdata;
  always @(posedge ap_clk) begin
    w_we    <= lb_v && (lb_mem == W_MEM);
    w_waddr <= lb_addr[WA_W-1:0];
    w_wdata <= lb_data[WW-1:0];
  end

  // A shallow weight memory (at most WLOGIC_DEPTH lines) is LUT RAM: as block RAM its width, not its
  // depth, would decide how many it takes (one per 36 bits, mostly empty).
  generate
    if (WBLOCK == 0) begin : g_wlogic
      (* ram_style = "distributed" *) reg [WW-1:0] wmem [0:NF*SF-1];
      always @(posedge ap_clk) begin
        if (w_we) wmem[w_waddr] <= w_wdata;
      end
      assign w_line = wmem[wa];
    end else begin : g_wblock
      // Block RAM read one edge ahead: its output register always holds line `wa` (addressed with the
      // value wa takes at this edge), and `issue` copies it into a fabric register. The RAM's slow
      // clock-to-output then ends at that register instead of running on into the products.
      // (no_rw_check: a line is never read while it is written, see the header)
      (* ram_style = "block", no_rw_check *) reg [WW-1:0] wmem [0:NF*SF-1];
      always @(posedge ap_clk) begin
        if (w_we) wmem[w_waddr] <= w_wdata;
      end
      // (the next line is a register, wa_nxt: an increment and wrap in front of the block RAM's address
      // would leave no slack at 100 MHz on the ECP5)
      wire [WA_W-1:0] wa_rd   = !ap_rst_n ? {WA_W{1'b0}} : (issue_g[NXC] ? wa_nxt : wa);
      reg [PE*SIMD*W_BITS-1:0] w_ram;   // block-RAM read register: wmem[wa]
      always @(posedge ap_clk) w_ram <= wmem[wa_rd];
      assign w_line = w_ram;
    end
    for (c = 0; c < NXC; c = c + 1) begin : g_wq
      localparam integer LO = c * X_GROUP * SIMD * W_BITS;
      localparam integer WN = ((PE - c * X_GROUP < X_GROUP) ? PE - c * X_GROUP : X_GROUP) * SIMD * W_BITS;
      always @(posedge ap_clk) begin
        if (issue_g[c]) w_q[LO +: WN] <= w_line[LO +: WN];
      end
    end
  endgenerate

  // The buffer is written whenever ready, valid or not: word waddr of the write bank is read by nothing until
  // waddr passes it, and a beat that does arrive overwrites it; s_axis_tvalid then reaches no write enable.
  // As LUT RAM (at most IB_LUT_WORDS words) each PE group's input register takes the step's word on its copy
  // of `issue`. As block RAM the word at the read address goes into the RAM's read register on every cycle,
  // then into a plain copy (x_o), then into each PE group's input register (IB_EXTRA = 2 cycles; the weights
  // and the step's control bits wait beside it): on the ECP5 x_o is the block RAM's output register
  // (ecp5_bram.py), whose clock-to-output is 0.9 ns against the read register's 5.6, and the group copies
  // keep its fan-out to NXC (one register into MVAU 0's 32 PEs is too long a net). Between steps the PEs
  // see other words; their results carry no valid bit and are dropped.
  generate
    if (IB_EXTRA != 0) begin : g_ib_block
      // no_rw_check: a word is never read at an issue edge while it is written (word_ok), so Yosys need not
      // emulate read-during-write with a bypass multiplexer behind the RAM (which it does otherwise)
      (* ram_style = "block", no_rw_check *) reg [XW-1:0] ibuf [0:IB_WORDS-1];
      wire [SFW:0] ib_raddr = {rbank, sf[SFW-1:0]};
      reg [XW-1:0] x_rd;     // the read register
      reg [XW-1:0] x_o;      // its plain copy
      always @(posedge ap_clk) begin
        if (s_axis_tready) ibuf[ib_waddr] <= s_axis_tdata;
      end
      always @(posedge ap_clk) begin
        x_rd <= ibuf[ib_raddr];
        x_o  <= x_rd;
      end
      for (c = 0; c < NXC; c = c + 1) begin : g_x
        reg [XW-1:0] x_q;
        (* keep *) always @(posedge ap_clk) x_q <= x_o;
        assign s1_x[c*XW +: XW] = x_q;
      end
    end else begin : g_ib_lut
      wire [SFW:0] ib_raddr = {rbank, sf[SFW-1:0]};
      reg [XW-1:0] ibuf [0:IB_WORDS-1];
      always @(posedge ap_clk) begin
        if (s_axis_tready) ibuf[ib_waddr] <= s_axis_tdata;
      end
      for (c = 0; c < NXC; c = c + 1) begin : g_x
        reg [XW-1:0] x_q;
        (* keep *) always @(posedge ap_clk) begin
          if (issue_g[c]) x_q <= ibuf[ib_raddr];
        end
        if (W_EXTRA != 0) begin : g_wait
          // the word waits a cycle beside the weight line's copy (below)
          reg [XW-1:0] x_w;
          (* keep *) always @(posedge ap_clk) x_w <= x_q;
          assign s1_x[c*XW +: XW] = x_w;
        end else begin : g_now
          assign s1_x[c*XW +: XW] = x_q;
        end
      end
    end
  endgenerate

  always @(posedge ap_clk) begin
    s1_valid <= ap_rst_n & issue;
    s1_first <= (sf == {IB_W{1'b0}});
    s1_last  <= step_last;
    s1_vend  <= step_vend;
    s1_nf    <= nf;
  end

  // What the PEs take: stage 1's weights and control, or the same two (IB_EXTRA) or one (W_EXTRA) cycles
  // later. W_EXTRA: w_q is the block RAM's output register on the ECP5 (ecp5_bram.py), placed in a block-RAM
  // row; a plain copy of it may sit beside the PEs (w_q straight into MVAU 1's products is too long a net
  // for 100 MHz on the ECP5).
  localparam integer CTL_W = 4 + NF_W;                        // {valid, first, last, vend, nf}
  wire [CTL_W-1:0]          s1_ctl = {s1_valid, s1_first, s1_last, s1_vend, s1_nf};
  wire [CTL_W-1:0]          pe_ctl;
  wire [PE*SIMD*W_BITS-1:0] pe_w;
  generate
    if (IB_EXTRA != 0) begin : g_s1_copy
      reg [CTL_W-1:0]          ctl_o, ctl_g;
      reg [PE*SIMD*W_BITS-1:0] w_o, w_g;
      always @(posedge ap_clk) begin
        ctl_o <= {ap_rst_n & s1_ctl[CTL_W-1], s1_ctl[CTL_W-2:0]};
        ctl_g <= {ap_rst_n & ctl_o[CTL_W-1], ctl_o[CTL_W-2:0]};
        w_o   <= s1_w;
        w_g   <= w_o;
      end
      assign pe_ctl = ctl_g;
      assign pe_w   = w_g;
    end else if (W_EXTRA != 0) begin : g_w_copy
      reg [CTL_W-1:0]          ctl_w;
      reg [PE*SIMD*W_BITS-1:0] w_w;
      always @(posedge ap_clk) begin
        ctl_w <= {ap_rst_n & s1_ctl[CTL_W-1], s1_ctl[CTL_W-2:0]};
        w_w   <= s1_w;
      end
      assign pe_ctl = ctl_w;
      assign pe_w   = w_w;
    end else begin : g_s1_now
      assign pe_ctl = s1_ctl;
      assign pe_w   = s1_w;
    end
  endgenerate

  // ---------------------------------------------------------------- stage 2: dot products
  // mvau_dot takes DOT_LAT cycles (pipelined, no enable); the step's control bits wait beside it.
  wire [PE*ACC_BITS-1:0] dot;
  reg  [PE*ACC_BITS-1:0] s2_dot;
  reg                    s2_valid, s2_last, s2_vend;   // (s2_first: a copy per PE group, below)
  reg  [NF_W-1:0]        s2_nf;

  genvar p, j;
  generate
    for (p = 0; p < PE; p = p + 1) begin : g_dot
      mvau_dot #(
          .SIMD          (SIMD),
          .IN_BITS       (IN_BITS),
          .IN_SIGNED     (IN_SIGNED),
          .W_BITS        (W_BITS),
          .ACC_BITS      (ACC_BITS),
          .LUT_MULT      (LUT_MULT),
          .ADDS_PER_STAGE(DOT_ADDS)
      ) u_dot (
          .clk(ap_clk),
          .x  (s1_x[(p / X_GROUP)*XW +: XW]),
          .w  (pe_w[p*SIMD*W_BITS +: SIMD*W_BITS]),
          .sum(dot[p*ACC_BITS +: ACC_BITS])
      );
    end
  endgenerate

  wire [CTL_W-1:0] dot_ctl;
  generate
    if (DOT_LAT == 0) begin : g_ctl_now
      assign dot_ctl = pe_ctl;
    end else begin : g_ctl_delay
      reg [DOT_LAT-1:0]         vq;   // valid bits, cleared in reset
      reg [DOT_LAT*(CTL_W-1)-1:0] cq;   // {first, last, vend, nf} per stage, stage 0 lowest
      /* verilator lint_off UNUSEDSIGNAL */
      wire [DOT_LAT:0]             vnext = {vq, ap_rst_n & pe_ctl[CTL_W-1]};
      wire [(DOT_LAT+1)*(CTL_W-1)-1:0] cnext = {cq, pe_ctl[CTL_W-2:0]};
      /* verilator lint_on UNUSEDSIGNAL */
      always @(posedge ap_clk) begin
        vq <= vnext[DOT_LAT-1:0] & {DOT_LAT{ap_rst_n}};
        cq <= cnext[DOT_LAT*(CTL_W-1)-1:0];
      end
      assign dot_ctl = {vq[DOT_LAT-1], cq[(DOT_LAT-1)*(CTL_W-1) +: CTL_W-1]};
    end
  endgenerate

  always @(posedge ap_clk) begin
    s2_dot <= dot;
    {s2_valid, s2_last, s2_vend, s2_nf} <= {ap_rst_n & dot_ctl[CTL_W-1], dot_ctl[CTL_W-3:0]};
  end

  // ---------------------------------------------------------------- stage 3: accumulate
  reg  [PE*ACC_BITS-1:0] acc;
  wire [PE*ACC_BITS-1:0] acc_sum;     // the accumulator after this step; final when s2_last
  // s2_first again per group of X_GROUP PEs (`keep`): one register into every PE's accumulator select is too
  // long a net on the ECP5 (MVAU 0, 32 PEs)
  wire [NXC-1:0] s2_first_g;
  generate
    for (c = 0; c < NXC; c = c + 1) begin : g_first
      reg q;
      (* keep *) always @(posedge ap_clk) q <= dot_ctl[CTL_W-2];
      assign s2_first_g[c] = q;
    end
    for (p = 0; p < PE; p = p + 1) begin : g_acc
      assign acc_sum[p*ACC_BITS +: ACC_BITS] =
          (s2_first_g[p / X_GROUP] ? {ACC_BITS{1'b0}} : acc[p*ACC_BITS +: ACC_BITS]) + s2_dot[p*ACC_BITS +: ACC_BITS];
    end
  endgenerate

  always @(posedge ap_clk) begin
    if (s2_valid) acc <= acc_sum;
  end

  // ---------------------------------------------------------------- activation
  wire [PE*OUT_W-1:0] res_data;       // one output beat, written to the FIFO when res_valid
  wire                res_valid;
  wire                res_vend;

  generate
    if (NO_ACT != 0) begin : g_no_act
      assign res_data  = acc_sum;
      assign res_valid = s2_valid & s2_last;
      assign res_vend  = s2_vend;
      /* verilator lint_off UNUSEDSIGNAL */
      wire unused_nf = ^s2_nf;
      /* verilator lint_on UNUSEDSIGNAL */
    end else begin : g_act
      // Threshold units: a neuron fold's PE accumulators arrive every SF cycles at most, so T_UNITS binary
      // searches, each taking one channel per cycle, keep up (T_PER = PE / T_UNITS <= SF channels each). The
      // beat is captured in a shift register (unit u owns PEs u*T_PER .. u*T_PER + T_PER - 1) and fed to the
      // units a channel per cycle; their answers are shifted into an output register and written to the
      // FIFO as one beat. One deep memory per stage and unit instead of one shallow memory per PE: far fewer
      // writable memories and flip-flops (each PE with its own LUT-RAM stages congested the ECP5's routing).
      // Unit u's channel key ch = nf*T_PER + i counts the vector's channels in order (folds arrive in order).
      // Pipelined binary search, one stage per output bit (MSB first). Stage j holds the accumulator, a key
      // {ch, count bits found so far} and the threshold read at that key: the candidate count
      // (prefix << (OUT_BITS-j)) | 2^(OUT_BITS-1-j) is reached iff acc >= its threshold.
      localparam integer KW = CH_W + STAGES;
      wire [STAGES:0]                        ch_valid;
      wire [STAGES:0]                        ch_last;   // the beat's last channel
      wire [STAGES:0]                        ch_vend;   // ... of the vector's last beat
      wire [(STAGES+1)*T_UNITS*ACC_BITS-1:0] ch_acc;
      wire [(STAGES+1)*T_UNITS*KW-1:0]       ch_key;

      // the serializer: loaded when a fold's accumulators are final (a copy of the load enable per PE group,
      // `keep`: one register into all of MVAU 0's 512 accumulator bits is too long a net)
      wire [NXC-1:0] ser_load_g;
      for (c = 0; c < NXC; c = c + 1) begin : g_load
        reg q;
        (* keep *) always @(posedge ap_clk) q <= ap_rst_n & dot_ctl[CTL_W-1] & dot_ctl[CTL_W-3];
        assign ser_load_g[c] = q;
      end
      reg [PE*ACC_BITS-1:0] ser;
      reg [TP_W:0]          ser_left;   // channels of the captured beat not yet fed to the units
      reg                   ser_vend;
      reg [CH_W-1:0]        ser_ch;
      for (p = 0; p < PE; p = p + 1) begin : g_ser
        // unit p / T_PER's channels move down its slice by one each cycle
        localparam integer I = p % T_PER;
        wire [ACC_BITS-1:0] after;
        if (I == T_PER - 1) begin : g_top
          assign after = {ACC_BITS{1'b0}};
        end else begin : g_shift
          assign after = ser[(p+1)*ACC_BITS +: ACC_BITS];
        end
        always @(posedge ap_clk) begin
          ser[p*ACC_BITS +: ACC_BITS] <= ser_load_g[p / X_GROUP] ? acc_sum[p*ACC_BITS +: ACC_BITS] : after;
        end
      end
      wire ser_load = s2_valid & s2_last;   // == each ser_load_g copy: ser loads at this edge
      always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
          ser_left <= {(TP_W+1){1'b0}};
          ser_ch   <= {CH_W{1'b0}};
        end else begin
          // a fold's beat never arrives before the last beat's channels are out (T_PER <= SF)
          if (ser_load) ser_left <= T_PER[TP_W:0];
          else if (ser_left != {(TP_W+1){1'b0}}) ser_left <= ser_left - 1'b1;
          if (ser_left != {(TP_W+1){1'b0}}) ser_ch <= (ser_ch == NCH_LAST[CH_W-1:0]) ? {CH_W{1'b0}} : ser_ch + 1'b1;
        end
        if (ser_load) ser_vend <= s2_vend;
      end
      assign ch_valid[0] = ser_left != {(TP_W+1){1'b0}};
      assign ch_last[0]  = ser_left == TP_ONE;
      assign ch_vend[0]  = ser_vend;
      for (p = 0; p < T_UNITS; p = p + 1) begin : g_in
        assign ch_acc[p*ACC_BITS +: ACC_BITS] = ser[p*T_PER*ACC_BITS +: ACC_BITS];
        assign ch_key[p*KW +: KW]             = {{STAGES{1'b0}}, ser_ch};
      end

      for (j = 0; j < STAGES; j = j + 1) begin : g_stage
        localparam integer DEPTH = NCH << j;
        localparam integer AW    = (DEPTH > 1) ? $clog2(DEPTH) : 1;
        // the stage's write address and line, a copy per stage (`keep`: Yosys would merge equal copies into
        // one register read by every stage's memories)
        localparam integer TW  = (j == 0) ? ACC_BITS : 2 * ACC_BITS;
        localparam integer TAW = (j == 0) ? AW : ((DEPTH / 2 > 1) ? $clog2(DEPTH / 2) : 1);
        reg [TAW-1:0] t_waddr;
        reg [TW-1:0]  t_wdata;
        (* keep *) always @(posedge ap_clk) begin
          t_waddr <= lb_addr[TAW-1:0];
          t_wdata <= lb_data[TW-1:0];
        end

        // A pair stage in block RAM takes two cycles: its memory is addressed with the registered key bits
        // (the block RAM's synchronous read is the first cycle, its output register the second), and the
        // stage's inputs wait a cycle beside it in s_*. Addressed a cycle earlier with the key the previous
        // stage registers then, a compare ran from one block RAM into the next one's address, and a unit's
        // stage memories are block RAMs wherever the die has one free.
        localparam integer BLK = (j > 0 && (DEPTH / 2) > LOGIC_DEPTH / 2) ? 1 : 0;
        wire s_valid, s_last, s_vend;
        if (BLK != 0) begin : g_wait
          reg d_valid, d_last, d_vend;
          always @(posedge ap_clk) begin
            d_valid <= ap_rst_n & ch_valid[j];
            d_last  <= ch_last[j];
            d_vend  <= ch_vend[j];
          end
          assign {s_valid, s_last, s_vend} = {d_valid, d_last, d_vend};
        end else begin : g_now
          assign {s_valid, s_last, s_vend} = {ch_valid[j], ch_last[j], ch_vend[j]};
        end
        reg r_valid, r_last, r_vend;
        always @(posedge ap_clk) begin
          r_valid <= ap_rst_n & s_valid;
          r_last  <= s_last;
          r_vend  <= s_vend;
        end
        assign ch_valid[j+1] = r_valid;
        assign ch_last[j+1]  = r_last;
        assign ch_vend[j+1]  = r_vend;

        for (p = 0; p < T_UNITS; p = p + 1) begin : g_unit
          // Each unit has its own memory of the stage (memory LD_BASE + 1 + j*T_UNITS + p); stages of at most
          // LOGIC_DEPTH thresholds are LUT RAM (a block RAM would be mostly empty).
          // Stage 0 reads line ch. Stage j >= 1 holds pairs: line r = {T at q = 2r+1, T at q = 2r}, so its
          // address is the key without the last decision (registered bits only); the line and that decision,
          // made by the previous stage's compare in this cycle, are registered side by side and the decision
          // picks a half after the edge: no path runs from a compare into a memory or a mux. A block RAM
          // (synchronous read) takes a cycle more (g_wait).
          /* verilator lint_off UNUSEDSIGNAL */
          wire [KW-1:0]         in_key = ch_key[(j*T_UNITS+p)*KW +: KW];
          wire [KW-1:0]         s_key;    // in_key, or (BLK) in_key a cycle later
          reg  [ACC_BITS-1:0]   r_line;
          reg  [KW-1:0]         r_key;
          /* verilator lint_on UNUSEDSIGNAL */
          wire [ACC_BITS-1:0]   s_acc;
          reg  [ACC_BITS-1:0]   r_acc;
          if (BLK != 0) begin : g_wait_unit
            reg [KW-1:0]       d_key;
            reg [ACC_BITS-1:0] d_acc;
            always @(posedge ap_clk) begin
              d_key <= in_key;
              d_acc <= ch_acc[(j*T_UNITS+p)*ACC_BITS +: ACC_BITS];
            end
            assign s_key = d_key;
            assign s_acc = d_acc;
          end else begin : g_now_unit
            assign s_key = in_key;
            assign s_acc = ch_acc[(j*T_UNITS+p)*ACC_BITS +: ACC_BITS];
          end
          localparam integer T_MEM_I = LD_BASE + 1 + j * T_UNITS + p;
          localparam [LD_MEM_BITS-1:0] T_MEM = T_MEM_I[LD_MEM_BITS-1:0];
          reg t_we;
          always @(posedge ap_clk) t_we <= lb_v && (lb_mem == T_MEM);
          if (j == 0) begin : g_first
            // the key is ser_ch, a register: the read (LUT RAM, or block RAM's synchronous read) ends at r_line
            if (DEPTH <= LOGIC_DEPTH) begin : g_logic
              (* ram_style = "distributed" *) reg [ACC_BITS-1:0] tmem [0:DEPTH-1];
              always @(posedge ap_clk) begin
                if (t_we) tmem[t_waddr] <= t_wdata;
              end
              (* keep *) always @(posedge ap_clk) r_line <= tmem[in_key[AW-1:0]];
            end else begin : g_block
              (* ram_style = "block", no_rw_check *) reg [ACC_BITS-1:0] tmem [0:DEPTH-1];
              always @(posedge ap_clk) begin
                if (t_we) tmem[t_waddr] <= t_wdata;
              end
              (* keep *) always @(posedge ap_clk) r_line <= tmem[in_key[AW-1:0]];
            end
          end else begin : g_pair
            localparam integer PDEPTH = DEPTH / 2;
            localparam integer PAW    = (PDEPTH > 1) ? $clog2(PDEPTH) : 1;
            wire [PAW-1:0] addr;   // the key without its last decision: registered bits only
            if (PDEPTH > 1) begin : g_addr
              assign addr = in_key[PAW:1];
            end else begin : g_addr0
              assign addr = 1'b0;
            end
            wire [2*ACC_BITS-1:0] pair;   // {entry 2r+1, entry 2r}
            if (BLK == 0) begin : g_logic
              (* ram_style = "distributed" *) reg [2*ACC_BITS-1:0] tmem [0:PDEPTH-1];
              always @(posedge ap_clk) begin
                if (t_we) tmem[t_waddr] <= t_wdata;
              end
              assign pair = tmem[addr];
            end else begin : g_block
              (* ram_style = "block", no_rw_check *) reg [2*ACC_BITS-1:0] tmem [0:PDEPTH-1];
              always @(posedge ap_clk) begin
                if (t_we) tmem[t_waddr] <= t_wdata;
              end
              reg [2*ACC_BITS-1:0] pair_q;
              always @(posedge ap_clk) pair_q <= tmem[addr];
              assign pair = pair_q;
            end
            // Both entries are registered and the decision with them: the compare that made it ends at a
            // flip-flop (as the select of the memory's read, Yosys folds it into its LUT tree: compare,
            // then four LUT levels, too slow for 100 MHz on the ECP5) and picks the entry in this stage.
            reg [2*ACC_BITS-1:0] r_pair;
            reg                  r_sel;
            (* keep *) always @(posedge ap_clk) begin
              r_pair <= pair;
              r_sel  <= s_key[0];
            end
            always @* r_line = r_sel ? r_pair[ACC_BITS +: ACC_BITS] : r_pair[0 +: ACC_BITS];
          end
          (* keep *) always @(posedge ap_clk) begin
            r_acc  <= s_acc;
            r_key  <= s_key;
          end
          wire pass = $signed(r_acc) >= $signed(r_line);
          assign ch_acc[((j+1)*T_UNITS+p)*ACC_BITS +: ACC_BITS] = r_acc;
          assign ch_key[((j+1)*T_UNITS+p)*KW +: KW]             = {r_key[KW-2:0], pass};
        end
      end

      // the collector: each unit's answers shift in from the top, so after T_PER of them channel i sits at i
      reg [PE*OUT_BITS-1:0] col;
      for (p = 0; p < T_UNITS; p = p + 1) begin : g_out
        /* verilator lint_off UNUSEDSIGNAL */
        wire [KW-1:0] final_key = ch_key[(STAGES*T_UNITS+p)*KW +: KW];
        /* verilator lint_on UNUSEDSIGNAL */
        wire [OUT_BITS-1:0] y = final_key[OUT_BITS-1:0] + OUT_BIAS[OUT_BITS-1:0];
        localparam integer LO = p * T_PER * OUT_BITS;
        if (T_PER == 1) begin : g_one
          always @(posedge ap_clk) if (ch_valid[STAGES]) col[LO +: OUT_BITS] <= y;
        end else begin : g_shift
          always @(posedge ap_clk) begin
            if (ch_valid[STAGES]) col[LO +: T_PER*OUT_BITS] <= {y, col[LO + OUT_BITS +: (T_PER-1)*OUT_BITS]};
          end
        end
      end
      reg col_valid, col_vend;
      always @(posedge ap_clk) begin
        col_valid <= ap_rst_n & ch_valid[STAGES] & ch_last[STAGES];
        col_vend  <= ch_vend[STAGES];
      end
      assign res_data  = col;
      assign res_valid = col_valid;
      assign res_vend  = col_vend;
      /* verilator lint_off UNUSEDSIGNAL */
      wire unused_acc = ^ch_acc[STAGES*T_UNITS*ACC_BITS +: T_UNITS*ACC_BITS];
      wire unused_nf  = ^s2_nf;
      /* verilator lint_on UNUSEDSIGNAL */
    end
  endgenerate

  // ---------------------------------------------------------------- output FIFO
  reg [FW-1:0]   fifo [0:FIFO_D-1];
  reg [FD_W-1:0] wptr, rptr;
  reg [FD_W:0]   fcount;
  reg            ovalid_m;  // == ovalid (fcount != 0): m_axis_tvalid, so the consumer's enables start at a flip-flop

  wire [FD_W:0] fcount_next = fcount + {{FD_W{1'b0}}, res_valid} - {{FD_W{1'b0}}, out_fire};
  // fcount_next != 0 with the output handshake picked last (it comes from the consumer's ready): the count
  // after a pop is not zero when a beat comes in or at least two were there
  wire          ovalid_next = res_valid | (out_fire ? ({{FD_W{1'b0}}, 1'b1} < fcount) : ovalid);

  always @(posedge ap_clk) begin
    if (res_valid) fifo[wptr] <= {res_vend, res_data};
  end

  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      wptr   <= {FD_W{1'b0}};
      rptr   <= {FD_W{1'b0}};
      fcount <= {(FD_W+1){1'b0}};
    end else begin
      if (res_valid) wptr <= wptr + 1'b1;
      if (out_fire) rptr <= rptr + 1'b1;
      fcount <= fcount_next;
    end
  end
  (* keep *) always @(posedge ap_clk) begin
    ovalid   <= ap_rst_n & ovalid_next;
    ovalid_m <= ap_rst_n & ovalid_next;
  end

  assign m_axis_tvalid                = ovalid_m;
  assign {m_axis_tlast, m_axis_tdata} = fifo[rptr];
endmodule

`default_nettype wire
