// ULX3S board top: a built-in self-test around hybrec_kernel.
//
// An EHXPLLL makes the kernel clock from the 25 MHz oscillator (dividers computed by
// hybrec.bitstream.ecp5.pll_dividers). After reset (FIRE1 released and the PLL locked) the test streams
// the id ROM (one entry per beat) into s_axis back to back, and compares every m_axis
// beat ({tlast, tdata}) with the expected-word ROM; both ROMs are written by Python from the build's
// golden vectors. An id ROM entry is one input beat: {tlast, tkeep[2*IPB-1:0], tdata[16*IPB-1:0]} (IPB ids
// per beat, the kernel's ids_per_beat). LEDs: [0] done, [1] pass, [2] fail (a mismatch, an extra beat or a timeout),
// [3] heartbeat, [7:4] mismatch count (saturating at 15). FIRE1 runs the test again.
//
// USE_PLL = 0 drives the kernel straight from clk_25mhz (simulation; no EHXPLLL model needed).
`default_nettype none

module ulx3s_bist #(
    parameter integer USE_PLL      = 1,
    /* verilator lint_off UNUSEDPARAM */  // the dividers are unused when USE_PLL = 0
    parameter integer CLKI_DIV     = 1,
    parameter integer CLKFB_DIV    = 4,
    parameter integer CLKOP_DIV    = 6,
    parameter integer CLKOP_CPHASE = 5,
    /* verilator lint_on UNUSEDPARAM */
    parameter integer IPB          = 1,      // ids per kernel input beat
    parameter integer N_IDS        = 1,      // entries (beats) of the id ROM
    parameter integer N_WORDS      = 1,      // entries of the expected-word ROM
    parameter integer TIMEOUT      = 1000000, // kernel cycles after reset before an unfinished test fails
    parameter        MEM_DIR      = "./",   // folder of every ROM file (the kernel's too), ending in '/'
    parameter        IDS_FILE     = "bist_ids.hex",
    parameter        WORDS_FILE   = "bist_words.hex"
) (
    input  wire       clk_25mhz,
    input  wire       btn_fire1,
    output wire [7:0] led
);
  localparam integer IW = $clog2(N_IDS + 1);
  localparam integer EW = 18 * IPB + 1;     // id ROM entry: {tlast, tkeep, tdata}
  localparam integer WW = $clog2(N_WORDS + 1);
  localparam [IW-1:0] ID_END = N_IDS[IW-1:0];
  localparam [WW-1:0] WORD_END = N_WORDS[WW-1:0];

  // ------------------------------------------------------------------ clock
  wire kclk;
  wire locked;
  generate
    if (USE_PLL != 0) begin : g_pll
      wire clkop;
      /* verilator lint_off UNUSEDSIGNAL */
      wire [5:0] pll_unused;  // CLKOS, CLKOS2, CLKOS3, INTLOCK, REFCLK, CLKINTFB
      /* verilator lint_on UNUSEDSIGNAL */
      (* FREQUENCY_PIN_CLKI = "25" *)
      (* ICP_CURRENT = "12" *) (* LPF_RESISTOR = "8" *) (* MFG_ENABLE_FILTEROPAMP = "1" *) (* MFG_GMCREF_SEL = "2" *)
      EHXPLLL #(
          .PLLRST_ENA("DISABLED"), .INTFB_WAKE("DISABLED"), .STDBY_ENABLE("DISABLED"),
          .DPHASE_SOURCE("DISABLED"), .OUTDIVIDER_MUXA("DIVA"), .OUTDIVIDER_MUXB("DIVB"),
          .OUTDIVIDER_MUXC("DIVC"), .OUTDIVIDER_MUXD("DIVD"), .CLKOP_ENABLE("ENABLED"),
          .CLKOP_DIV(CLKOP_DIV), .CLKOP_CPHASE(CLKOP_CPHASE), .CLKOP_FPHASE(0),
          .FEEDBK_PATH("CLKOP"), .CLKFB_DIV(CLKFB_DIV), .CLKI_DIV(CLKI_DIV)
      ) u_pll (
          .CLKI(clk_25mhz), .CLKFB(clkop), .CLKOP(clkop), .CLKOS(pll_unused[0]),
          .CLKOS2(pll_unused[1]), .CLKOS3(pll_unused[2]), .LOCK(locked), .INTLOCK(pll_unused[3]),
          .REFCLK(pll_unused[4]), .CLKINTFB(pll_unused[5]),
          .RST(1'b0), .STDBY(1'b0), .PHASESEL0(1'b0), .PHASESEL1(1'b0), .PHASEDIR(1'b0),
          .PHASESTEP(1'b0), .PHASELOADREG(1'b0), .PLLWAKESYNC(1'b0), .ENCLKOP(1'b0),
          .ENCLKOS(1'b0), .ENCLKOS2(1'b0), .ENCLKOS3(1'b0)
      );
      assign kclk = clkop;
    end else begin : g_direct
      assign kclk = clk_25mhz;
      assign locked = 1'b1;
    end
  endgenerate

  // ------------------------------------------------------------------ reset (synchronous, active low)
  reg [2:0] rst_sync;
  initial rst_sync = 3'b000;
  always @(posedge kclk) rst_sync <= {rst_sync[1:0], locked & ~btn_fire1};
  wire rst_n = rst_sync[2];

  // ------------------------------------------------------------------ ROMs
  // The expected words are a small LUT ROM read into a register. The ids ROM is a block RAM read one edge
  // ahead (below); as LUT logic its address register would fan out into about 2k LUTs.
  (* rom_style = "block" *) reg [EW-1:0] ids_rom [0:(1 << IW) - 1];
  (* rom_style = "logic" *) reg [64:0] words_rom [0:(1 << WW) - 1];
  initial begin
    $readmemh({MEM_DIR, IDS_FILE}, ids_rom, 0, N_IDS - 1);
    $readmemh({MEM_DIR, WORDS_FILE}, words_rom, 0, N_WORDS - 1);
  end

  // ------------------------------------------------------------------ stimulus: every id, back to back
  // The block RAM's output register always holds entry id_idx (it is addressed with the value id_idx takes
  // at this edge) and a load copies it into s_entry: the kernel's input comes from fabric flip-flops, and
  // the RAM's slow clock-to-output (~5.6 ns on ECP5) ends there.
  reg  [IW-1:0] id_idx;
  reg  [EW-1:0] id_ram;
  reg  [EW-1:0] s_entry;
  reg           s_valid;
  wire          s_ready;
  wire          s_load = !s_valid || s_ready;
  wire [IW-1:0] id_next = (id_idx != ID_END) ? id_idx + 1'b1 : id_idx;
  wire [IW-1:0] id_rd   = !rst_n ? {IW{1'b0}} : (s_load ? id_next : id_idx);
  always @(posedge kclk) id_ram <= ids_rom[id_rd];
  always @(posedge kclk) begin
    if (!rst_n) begin
      id_idx <= {IW{1'b0}};
      s_valid <= 1'b0;
    end else if (s_load) begin
      s_valid <= (id_idx != ID_END);
      if (id_idx != ID_END) id_idx <= id_idx + 1'b1;
    end
    if (s_load) s_entry <= id_ram;
  end

  // ------------------------------------------------------------------ input register slice
  // The id ROM's entry goes to the kernel through a register slice (an output register and a skid register,
  // every output a flip-flop that nextpnr can place beside the kernel's input logic), as a DMA's stream
  // would. Without it the kernel's id checks and the aggregation's addresses hang off the block RAM's
  // output register (the block-RAM pass moves s_entry there), a long net away, too slow for 100 MHz; so do
  // they behind a 2-entry fifo_sync (a LUT RAM read behind its read pointer).
  reg  [EW-1:0] k_entry, k_skid;
  reg           k_valid, k_skid_v;
  wire          k_ready;
  wire          in_take  = s_valid & ~k_skid_v;       // a beat enters (s_ready = the skid register is free)
  wire          out_free = ~k_valid | k_ready;        // the output register is free or being taken
  assign s_ready = ~k_skid_v;
  always @(posedge kclk) begin
    if (!rst_n) begin
      k_valid  <= 1'b0;
      k_skid_v <= 1'b0;
    end else if (out_free) begin
      k_valid  <= k_skid_v | in_take;
      k_skid_v <= 1'b0;
    end else if (in_take) begin
      k_skid_v <= 1'b1;
    end
  end
  always @(posedge kclk) begin
    if (out_free) k_entry <= k_skid_v ? k_skid : s_entry;
    if (!k_skid_v) k_skid <= s_entry;
  end

  // ------------------------------------------------------------------ the kernel
  wire [63:0] m_data;
  wire        m_valid;
  wire        m_last;
  // keep_hierarchy: the kernel is synthesized on its own, as `hybrec fit` does. Flattening it into this top
  // adds a level of hierarchy, which reverses the order Yosys' wreduce visits the adder trees' cells in; it
  // then narrows the tree roots, alumacc merges the trees into multi-operand adders and synth_ecp5 builds
  // those from LUTs: about 7k more LUT4 and 2k fewer CCU2C at the ML-100K size, same function.
  (* keep_hierarchy *)
  hybrec_kernel #(.MEM_DIR(MEM_DIR)) u_kernel (
      .ap_clk(kclk), .ap_rst_n(rst_n),
      .s_axis_tdata(k_entry[16*IPB-1:0]), .s_axis_tkeep(k_entry[16*IPB +: 2*IPB]), .s_axis_tvalid(k_valid),
      .s_axis_tready(k_ready), .s_axis_tlast(k_entry[EW-1]),
      .m_axis_tdata(m_data), .m_axis_tvalid(m_valid), .m_axis_tready(1'b1), .m_axis_tlast(m_last)
  );

  // ------------------------------------------------------------------ checker (two stages)
  // stage 1: register the beat and read its expected word (synchronous ROM read); stage 2: compare.
  reg  [WW-1:0] word_idx;
  reg           got_valid, got_extra;
  reg  [64:0]   got, expected;
  reg  [15:0]   mismatches;   // wrong words plus beats after the last expected one (saturating)
  reg  [31:0]   cycles;
  reg           timed_out;
  reg           done;
  always @(posedge kclk) begin
    got <= {m_last, m_data};
    expected <= words_rom[word_idx];
    if (!rst_n) begin
      word_idx <= {WW{1'b0}};
      got_valid <= 1'b0;
      got_extra <= 1'b0;
      mismatches <= 16'd0;
      cycles <= 32'd0;
      timed_out <= 1'b0;
      done <= 1'b0;
    end else begin
      got_valid <= m_valid;
      got_extra <= (word_idx == WORD_END);
      if (m_valid && word_idx != WORD_END) word_idx <= word_idx + 1'b1;
      if (got_valid && (got_extra || got != expected) && mismatches != 16'hFFFF) mismatches <= mismatches + 16'd1;
      done <= (word_idx == WORD_END) && !m_valid && !got_valid;
      if (!done && !timed_out) begin
        cycles <= cycles + 32'd1;
        if (cycles == TIMEOUT[31:0]) timed_out <= 1'b1;
      end
    end
  end

  reg [25:0] heartbeat;
  initial heartbeat = 26'd0;
  always @(posedge kclk) heartbeat <= heartbeat + 26'd1;

  wire passed = done && (mismatches == 16'd0) && !timed_out;
  wire failed = timed_out || (mismatches != 16'd0);
  wire [3:0] shown = (mismatches > 16'd15) ? 4'hF : mismatches[3:0];
  assign led = {shown, heartbeat[25], failed, passed, done};
endmodule

`default_nettype wire
