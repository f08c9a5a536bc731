// ULX3S board top: a built-in self-test around hybrec_kernel that reads its stimulus from the SPI flash.
//
// The bitstream is a function of the kernel's shape only; the model and the golden answers are data, in a
// self-test image (`bist.bin`, hybrec.bitstream.bist, docs/self-test.md) flashed at byte FLASH_ADDR. After
// reset (FIRE1 released and the PLL locked) the top reads the image's header, then streams its packets into
// the kernel's s_axis (the model's load packet, golden queries, a status request) and folds every m_axis word
// into a count, a count of tlast and Fletcher sums s1/s2 over the words' 32-bit halves (low half first, as
// hybrec.protocol.checksums); at the end it compares them, and a checksum over the packets it read, with the
// header's. The answers are not stored on chip: an ML-100K model image (~340 KB) does not fit there.
//
// LEDs: [0] done, [1] pass, [2] fail, [3] heartbeat; [7:4] once failed, the first check that failed:
//   1 no self-test image at FLASH_ADDR (magic, version, header size)   2 the image is for another shape
//   3 the image read is damaged (a record out of bounds, or the packets' checksum differs)
//   4 stalled (no input taken, no answer for 2^STALL_BITS cycles before the image's end)
//   5 answer words or answers (tlast) counted differ                   6 the answers' s1/s2 differ
// and while running, the phase: 1 header, 2 streaming, 4 waiting for the last answers. FIRE1 runs it again.
//
// The flash clock is the ECP5's configuration clock pin, reached from fabric only through USRMCLK.
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
    parameter [31:0]  SHAPE_WORD   = 32'd0,      // the kernel's shape word; an image for another is refused
    parameter [23:0]  FLASH_ADDR   = 24'h400000, // the self-test image's first byte in the flash
    parameter integer SPI_HALF     = 4,          // kernel cycles per SCK half period (SCK = kclk / 8)
    parameter integer WAKE_CYCLES  = 4096,       // after the flash's wake-up command (>= 3 us)
    parameter integer STALL_BITS   = 24,         // no progress for 2^STALL_BITS cycles: the test ends
    parameter integer QUIET_BITS   = 12,         // every answer in: 2^QUIET_BITS quiet cycles, then it ends
    parameter        MEM_DIR      = "./"        // folder of the kernel's ROM file, ending in '/'
) (
    input  wire       clk_25mhz,
    input  wire       btn_fire1,
    output wire [7:0] led,
    output wire       flash_csn,
    output wire       flash_mosi,
    input  wire       flash_miso,
    output wire       flash_holdn,
    output wire       flash_wpn
);
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

  // ------------------------------------------------------------------ the flash
  // HOLD# and WP# high: a flash whose quad mode is off would otherwise pause on HOLD#.
  // The flash's words pass a register slice: the reader sits by the flash pins, the image parser by the
  // kernel's input, and the reader's word register and its enable (behind the SCK divider) stay local.
  wire        flash_sck;
  wire [31:0] fr_data, f_data;
  wire        fr_valid, fr_ready, f_valid;
  reg         f_ready;
  assign flash_holdn = 1'b1;
  assign flash_wpn   = 1'b1;
  USRMCLK u_mclk (.USRMCLKI(flash_sck), .USRMCLKTS(1'b0));
  spi_flash_stream #(.HALF(SPI_HALF), .ADDR(FLASH_ADDR), .WAKE_CYCLES(WAKE_CYCLES)) u_flash (
      .clk(kclk), .rst_n(rst_n), .m_data(fr_data), .m_valid(fr_valid), .m_ready(fr_ready),
      .spi_sck(flash_sck), .spi_csn(flash_csn), .spi_mosi(flash_mosi), .spi_miso(flash_miso)
  );
  axis_register #(.W(32)) u_slice_flash (
      .ap_clk(kclk), .ap_rst_n(rst_n),
      .s_axis_tdata(fr_data), .s_axis_tvalid(fr_valid), .s_axis_tready(fr_ready),
      .m_axis_tdata(f_data), .m_axis_tvalid(f_valid), .m_axis_tready(f_ready)
  );

  // ------------------------------------------------------------------ the image: header, then records
  localparam [31:0] MAGIC0 = 32'h52425948, MAGIC1 = 32'h54534345;   // "HYBR", "ECST" little-endian
  localparam [31:0] VERSION = 32'd1, HEADER_BYTES = 32'd128;
  localparam [4:0]  HEAD_LAST = 5'd31;                               // 128 bytes: words 0 .. 31
  localparam [2:0]  P_HEAD = 3'd0, P_REC = 3'd1, P_BEAT = 3'd2, P_DONE = 3'd3, P_BAD = 3'd4,
                    P_CHECK = 3'd5, P_TAKE = 3'd6;
  localparam [3:0]  F_NONE = 4'd0, F_IMAGE = 4'd1, F_SHAPE = 4'd2, F_DAMAGED = 4'd3, F_STALL = 4'd4,
                    F_COUNT = 4'd5, F_SUM = 4'd6;

  reg  [2:0]  p_state;
  reg  [4:0]  h_idx;
  reg  [3:0]  bad_code;
  reg  [31:0] packets_left, words_left;   // records still to read; record words still to read
  reg  [31:0] in_s1, in_s2, out_n, last_n, out_s1, out_s2;    // the header's expectations
  reg  [23:0] beats_left;
  reg  [3:0]  last_keep;
  reg  [31:0] hd_word;    // the last word read, and which header count or sum it is (below)
  reg  [12:5] hd_en;
  integer     hi;
  reg  [31:0] rec_head;   // a record's head word, checked over the two cycles after it was read
  reg  [31:0] rec_room;   // words_left when it was read
  reg         rec_ok;
  reg  [31:0] got_in_s1, got_in_s2;
  reg         in_sum_pending;

  reg  [36:0] s_entry;   // {tlast, tkeep, tdata}
  reg         s_valid;
  wire        s_ready;

  // a word is taken from the flash in the header, at a record's head, or into s_entry when it is empty: from
  // flip-flops only (with the slice's ready in it, f_take and its fan-out into every header register were a
  // 10.4 ns path even in the tiny kernel's bitstream). One beat per two cycles at most; the flash gives one
  // word per 64 of its clocks.
  always @(*) begin
    case (p_state)
      P_HEAD, P_REC: f_ready = 1'b1;
      P_BEAT:        f_ready = !s_valid;
      default:       f_ready = 1'b0;
    endcase
  end
  wire f_take = f_valid && f_ready;
  wire is_record = (p_state == P_REC) || (p_state == P_BEAT);
  wire [23:0] rec_beats = rec_head[23:0];

  always @(posedge kclk) begin
    if (!rst_n) begin
      p_state <= P_HEAD;
      h_idx <= 5'd0;
      bad_code <= F_NONE;
      s_valid <= 1'b0;
      got_in_s1 <= 32'd0;
      got_in_s2 <= 32'd0;
      in_sum_pending <= 1'b0;
      hd_en <= 8'd0;
    end else begin
      if (s_ready) s_valid <= 1'b0;
      // Fletcher sums of the record words: s1 now, s2 (which adds the new s1) a cycle later
      in_sum_pending <= f_take && is_record;
      if (in_sum_pending) got_in_s2 <= got_in_s2 + got_in_s1;
      if (f_take && is_record) begin
        got_in_s1 <= got_in_s1 + f_data;
        words_left <= words_left - 32'd1;
      end
      // the header's counts and sums (words 5-12) a cycle after they were read, from a copy of the word and
      // a one-hot enable that are registers: the flash slice's valid through the index decode into the
      // enables of 256 flip-flops is too long a path for 75 MHz on the ECP5
      hd_word <= f_data;
      for (hi = 5; hi <= 12; hi = hi + 1) hd_en[hi] <= (p_state == P_HEAD) && f_take && (h_idx == hi[4:0]);
      if (hd_en[5])  packets_left <= hd_word;
      if (hd_en[6])  words_left <= hd_word;
      if (hd_en[7])  in_s1 <= hd_word;
      if (hd_en[8])  in_s2 <= hd_word;
      if (hd_en[9])  out_n <= hd_word;
      if (hd_en[10]) last_n <= hd_word;
      if (hd_en[11]) out_s1 <= hd_word;
      if (hd_en[12]) out_s2 <= hd_word;
      case (p_state)
        P_HEAD: if (f_take) begin
          h_idx <= h_idx + 5'd1;
          case (h_idx)
            5'd0: if (f_data != MAGIC0) bad_code <= F_IMAGE;
            5'd1: if (f_data != MAGIC1) bad_code <= F_IMAGE;
            5'd2: if (f_data != VERSION) bad_code <= F_IMAGE;
            5'd3: if (f_data != HEADER_BYTES) bad_code <= F_IMAGE;
            5'd4: if (f_data != SHAPE_WORD && bad_code == F_NONE) bad_code <= F_SHAPE;
            default: ;
          endcase
          // a bad magic stops at once: what follows is not an image
          if ((h_idx <= 5'd1 && f_data != (h_idx[0] ? MAGIC1 : MAGIC0)) || bad_code != F_NONE) p_state <= P_BAD;
          else if (h_idx == HEAD_LAST) p_state <= (packets_left == 32'd0) ? P_DONE : P_REC;
        end
        // A record's head is registered (P_REC), checked (P_CHECK: the mark, at least one beat, and no more
        // than the image has left after it), then taken (P_TAKE): from the flash slice's output through the
        // compare's carry chain into the header registers' enables is too long a path for 100 MHz on the
        // ECP5, and the flash gives a word per 64 cycles anyway.
        P_REC: if (f_take) begin
          rec_head <= f_data;
          rec_room <= words_left;
          p_state <= P_CHECK;
        end
        P_CHECK: begin
          rec_ok <= (rec_head[31:28] == 4'hA) && (rec_beats != 24'd0) && ({8'd0, rec_beats} < rec_room);
          p_state <= P_TAKE;
        end
        P_TAKE: begin
          if (!rec_ok) begin
            bad_code <= F_DAMAGED;
            p_state <= P_BAD;
          end else begin
            beats_left <= rec_beats;
            last_keep <= rec_head[27:24];
            packets_left <= packets_left - 32'd1;
            p_state <= P_BEAT;
          end
        end
        P_BEAT: if (f_take) begin
          s_entry <= {beats_left == 24'd1, beats_left == 24'd1 ? last_keep : 4'hF, f_data};
          s_valid <= 1'b1;
          beats_left <= beats_left - 24'd1;
          if (beats_left == 24'd1) p_state <= (packets_left == 32'd0) ? P_DONE : P_REC;
        end
        default: ;
      endcase
    end
  end

  // ------------------------------------------------------------------ input register slice
  // The beat goes to the kernel through a register slice (axis_register: every output a flip-flop that
  // nextpnr can place beside the kernel's input logic), as a DMA's stream would:
  // s_entry is loaded from the flash reader, across the chip from the kernel's id checks and the
  // aggregation's addresses, a long net away, too slow for 100 MHz; so do they behind a 2-entry fifo_sync
  // (a LUT RAM read behind its read pointer).
  wire [36:0] k_entry;
  wire        k_valid, k_ready;
  axis_register #(.W(37)) u_slice (
      .ap_clk(kclk), .ap_rst_n(rst_n),
      .s_axis_tdata(s_entry), .s_axis_tvalid(s_valid), .s_axis_tready(s_ready),
      .m_axis_tdata(k_entry), .m_axis_tvalid(k_valid), .m_axis_tready(k_ready)
  );

  // ------------------------------------------------------------------ the kernel
  wire [63:0] m_data;
  wire        m_valid;
  wire        m_last;
  wire        m_ready;
  // keep_hierarchy: the kernel is synthesized on its own, as `hybrec fit` does. Flattening it into this top
  // adds a level of hierarchy, which reverses the order Yosys' wreduce visits the adder trees' cells in; it
  // then narrows the tree roots, alumacc merges the trees into multi-operand adders and synth_ecp5 builds
  // those from LUTs: about 7k more LUT4 and 2k fewer CCU2C at the ML-100K size, same function.
  (* keep_hierarchy *)
  hybrec_kernel #(.MEM_DIR(MEM_DIR)) u_kernel (
      .ap_clk(kclk), .ap_rst_n(rst_n),
      .s_axis_tdata(k_entry[31:0]), .s_axis_tkeep(k_entry[35:32]), .s_axis_tvalid(k_valid),
      .s_axis_tready(k_ready), .s_axis_tlast(k_entry[36]),
      .m_axis_tdata(m_data), .m_axis_tvalid(m_valid), .m_axis_tready(m_ready), .m_axis_tlast(m_last)
  );

  // ------------------------------------------------------------------ the answers' counts and sums
  // One word at a time: it is registered, then its halves go into s1/s2 one addition per cycle (four
  // cycles, m_ready low meanwhile): no carry chain feeds another in one cycle. The kernel answers a query
  // with K words after hundreds of cycles of scoring, so the back-pressure costs nothing that matters.
  reg  [63:0] o_word;
  reg  [2:0]  o_phase;      // 0: free; 1..4: s1 += lo, s2 += s1, s1 += hi, s2 += s1
  reg  [31:0] got_n, got_last, got_s1, got_s2;
  assign m_ready = (o_phase == 3'd0);
  always @(posedge kclk) begin
    if (!rst_n) begin
      o_phase <= 3'd0;
      got_n <= 32'd0;
      got_last <= 32'd0;
      got_s1 <= 32'd0;
      got_s2 <= 32'd0;
    end else begin
      case (o_phase)
        3'd0: if (m_valid) begin
          o_word <= m_data;
          got_n <= got_n + 32'd1;
          if (m_last) got_last <= got_last + 32'd1;
          o_phase <= 3'd1;
        end
        3'd1: begin got_s1 <= got_s1 + o_word[31:0];  o_phase <= 3'd2; end
        3'd2: begin got_s2 <= got_s2 + got_s1;         o_phase <= 3'd3; end
        3'd3: begin got_s1 <= got_s1 + o_word[63:32]; o_phase <= 3'd4; end
        default: begin got_s2 <= got_s2 + got_s1;      o_phase <= 3'd0; end
      endcase
    end
  end

  // ------------------------------------------------------------------ the end and the verdict
  // The test ends when every packet is in and every answer word expected has come, after a quiet time (a word
  // too many would still be counted); or when nothing moves for 2^STALL_BITS cycles (a missing answer, or a
  // kernel that stopped taking input); or at once on a bad image header or record.
  reg  [STALL_BITS:0] idle;
  reg                 done;
  reg  [3:0]          code;
  wire progress = f_take || (m_valid && m_ready);
  wire quiet    = (got_n >= out_n) ? idle[QUIET_BITS] : idle[STALL_BITS];
  always @(posedge kclk) begin
    if (!rst_n) begin
      idle <= {(STALL_BITS + 1){1'b0}};
      done <= 1'b0;
      code <= F_NONE;
    end else if (!done) begin
      idle <= progress ? {(STALL_BITS + 1){1'b0}} : idle + 1'b1;
      if (p_state == P_BAD) begin
        done <= 1'b1;
        code <= bad_code;
      end else if (p_state != P_DONE && idle[STALL_BITS]) begin
        done <= 1'b1;
        code <= F_STALL;
      end else if (p_state == P_DONE && o_phase == 3'd0 && !in_sum_pending && quiet) begin
        done <= 1'b1;
        if (got_in_s1 != in_s1 || got_in_s2 != in_s2 || words_left != 32'd0) code <= F_DAMAGED;
        else if (got_n != out_n || got_last != last_n) code <= F_COUNT;
        else if (got_s1 != out_s1 || got_s2 != out_s2) code <= F_SUM;
        else code <= F_NONE;
      end
    end
  end

  reg [25:0] heartbeat;
  initial heartbeat = 26'd0;
  always @(posedge kclk) heartbeat <= heartbeat + 26'd1;

  wire       passed = done && (code == F_NONE);
  wire       failed = done && (code != F_NONE);
  wire [3:0] phase  = (p_state == P_HEAD) ? 4'd1 : (p_state == P_DONE) ? 4'd4 : 4'd2;
  assign led = {done ? code : phase, heartbeat[25], failed, passed, done};
endmodule

`default_nettype wire
