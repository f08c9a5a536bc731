// hist_mask.v: keeps a query's own history and the other ids it lists out of its top-K.
//
// The kernel's input stream is snooped: every present id below N_ITEMS, wherever it is in its packet (an
// exclusion list may be longer than the history hist_agg aggregates), sets its bit in the query's bank, one
// bank per query in flight. Ids at or above the live item count reach this block as all ones (the top
// replaces them), so the compare with the capacity N_ITEMS is enough. The scorer's
// rows pass through on their way to top-K: row r of a query carries items r*LANES + l, and lane l's
// valid bit (tuser) is cleared where the bank has the item; the row's bits are cleared as it passes, so
// the bank is empty again after the query's last row.
//
// Memory: for every input slot s (IPB ids per beat) and every lane l, a 1-bit RAM of NB * 2^RW words
// (RW = clog2(rows)), address {bank, row}: item i lives in lane i % LANES, row i / LANES. Slot s writes
// only its own RAMs (one write port each); the row stage reads every RAM at {bank, row} and writes zero
// there in the same cycle (read-before-write), and ORs the slots. Block RAM or LUT RAM, as synthesis
// prefers; i / LANES is a multiplication by a reciprocal, exact for every ID_BITS-bit id.
// Snooped ids reach their RAMs 4 cycles after the input beat: far earlier than the query's first row,
// which waits for the aggregation, the MLP and the scorer.
// After reset the RAMs are swept to zero (NB * 2^RW cycles) while in_allow stays low.
//
// NB banks bound the queries between the kernel input and this stage: in_allow is low while all NB
// are taken and a new packet would start (the kernel holds s_axis_tready low meanwhile).
// Row stage: one register stage (valid/ready, full throughput).
`default_nettype none

module hist_mask #(
    parameter integer N_ITEMS = 1682,
    parameter integer LANES   = 8,
    parameter integer ID_BITS = 11,    // ids >= N_ITEMS are ignored
    parameter integer NB      = 4,     // banks (queries in flight), a power of two >= 1
    parameter integer IPB     = 1,     // ids per input beat
    parameter integer DATA_W  = 8      // scorer beat width, passed through
) (
    input  wire                   ap_clk,
    input  wire                   ap_rst_n,
    // snoop: a kernel input beat was accepted; slot s holds an id when in_keep[s]
    input  wire                   in_fire,
    input  wire [IPB*ID_BITS-1:0] in_id,
    input  wire [IPB-1:0]         in_keep,
    input  wire                   in_last,
    output wire                   in_allow,    // a new packet may start (or one is in progress)
    // scorer rows in, masked rows out
    input  wire [DATA_W-1:0]      s_axis_tdata,
    input  wire [LANES-1:0]       s_axis_tuser,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,
    input  wire                   s_axis_tlast,
    output wire [DATA_W-1:0]      m_axis_tdata,
    output wire [LANES-1:0]       m_axis_tuser,
    output wire                   m_axis_tvalid,
    input  wire                   m_axis_tready,
    output wire                   m_axis_tlast
);
  localparam integer NROWS = (N_ITEMS + LANES - 1) / LANES;
  localparam integer BW    = (NB > 1) ? $clog2(NB) : 1;
  localparam integer BA    = (NB > 1) ? $clog2(NB) : 0;    // bank bits of a RAM address
  localparam integer RW    = (NROWS > 1) ? $clog2(NROWS) : 1;
  localparam integer AW    = BA + RW;
  localparam integer DEPTH = 1 << AW;
  localparam integer LB    = (LANES > 1) ? $clog2(LANES) : 1;
  localparam integer LNW   = LB + 1;                        // lane index width (holds LANES)
  // row = (id * RCP) >> RSH == id / LANES for every id < 2^ID_BITS (RCP = ceil(2^RSH / LANES): the error
  // id * (RCP * LANES - 2^RSH) / (LANES * 2^RSH) < 2^(ID_BITS - RSH) <= 1 / LANES never crosses an integer)
  localparam integer RSH   = ID_BITS + LB;
  localparam integer MW    = ID_BITS + RSH + 1;
  localparam [31:0]    LANES32 = LANES;    // MW may exceed 32 bits: widen by concatenation, not part-select
  localparam [MW+31:0] LANES_X = {{MW{1'b0}}, LANES32};
  localparam [MW-1:0]  LANES_W = LANES_X[MW-1:0];
  localparam [MW-1:0] RCP  = ((({{(MW - 1){1'b0}}, 1'b1}) << RSH) + LANES_W - 1'b1) / LANES_W;

  // q * LANES from shifts and adds (LANES is a constant: a DSP block here would chain a second multiply)
  function automatic [ID_BITS+LB:0] times_lanes(input [ID_BITS-1:0] q);
    integer b;
    begin
      times_lanes = {(ID_BITS + LB + 1){1'b0}};
      for (b = 0; b <= LB; b = b + 1) begin
        if (LANES32[b]) times_lanes = times_lanes + ({{(LB + 1){1'b0}}, q} << b);
      end
    end
  endfunction

  generate
    if ((1 << $clog2(NB)) != NB) begin : g_check_nb
      hist_mask_error_NB_not_a_power_of_two u_error ();
    end
  endgenerate

  // ------------------------------------------------------------------ bank bookkeeping
  reg  [BW-1:0]   wb;          // bank of the packet being received
  reg  [BW-1:0]   rb;          // bank of the query being masked
  reg  [BW:0]     used;        // banks taken (packet started, last row not yet passed)
  reg             in_packet;   // a packet has started and not ended
  reg  [RW-1:0]   row;         // row of the query being masked
  reg             sweeping;    // clearing the RAMs after reset
  reg  [AW-1:0]   sweep_a;

  wire [BW-1:0] wb_next = (NB == 1) ? {BW{1'b0}} : wb + 1'b1;   // NB = 1: a 1-bit index that stays 0
  wire [BW-1:0] rb_next = (NB == 1) ? {BW{1'b0}} : rb + 1'b1;
  wire start  = in_fire & ~in_packet;

  reg  out_valid;
  wire s_take  = s_axis_tvalid & s_axis_tready;
  wire out_end = s_take & s_axis_tlast;
  assign s_axis_tready = ~sweeping & (~out_valid | m_axis_tready);
  assign in_allow      = ~sweeping & (in_packet | (used != NB[BW:0]));

  // Which slots are counted: present and in range.
  reg [IPB-1:0] counted;
  integer s;
  always @* begin
    for (s = 0; s < IPB; s = s + 1)
      counted[s] = in_keep[s] & ({1'b0, in_id[s*ID_BITS +: ID_BITS]} < N_ITEMS[ID_BITS:0]);
  end

  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      wb        <= {BW{1'b0}};
      rb        <= {BW{1'b0}};
      used      <= {(BW+1){1'b0}};
      in_packet <= 1'b0;
      row       <= {RW{1'b0}};
    end else begin
      used <= used + {{BW{1'b0}}, start} - {{BW{1'b0}}, out_end};
      if (in_fire) begin
        if (in_last) begin
          in_packet <= 1'b0;
          wb        <= wb_next;
        end else begin
          in_packet <= 1'b1;
        end
      end
      if (s_take) begin
        if (s_axis_tlast) begin
          row <= {RW{1'b0}};
          rb  <= rb_next;
        end else begin
          row <= row + 1'b1;
        end
      end
    end
  end

  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      sweeping <= 1'b1;
      sweep_a  <= {AW{1'b0}};
    end else if (sweeping) begin
      sweep_a  <= sweep_a + 1'b1;
      if (sweep_a == DEPTH[AW-1:0] - 1'b1) sweeping <= 1'b0;
    end
  end

  // ------------------------------------------------------------------ row stage: read + clear
  wire [AW-1:0] rd_addr;
  generate
    if (NB > 1) begin : g_rd_bank
      assign rd_addr = sweeping ? sweep_a : {rb, row};
    end else begin : g_rd_single
      assign rd_addr = sweeping ? sweep_a : row;
    end
  endgenerate
  wire rd_clear = sweeping | s_take;

  reg [DATA_W-1:0] out_data;
  reg [LANES-1:0]  out_user;
  reg              out_last;
  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      out_valid <= 1'b0;
    end else if (s_take) begin
      out_valid <= 1'b1;
    end else if (m_axis_tready) begin
      out_valid <= 1'b0;
    end
    if (s_take) begin
      out_data <= s_axis_tdata;
      out_user <= s_axis_tuser;
      out_last <= s_axis_tlast;
    end
  end

  // ------------------------------------------------------------------ slots: snoop -> row/lane -> write
  wire [IPB*LANES-1:0] slot_bits;
  genvar g, l;
  generate
    for (g = 0; g < IPB; g = g + 1) begin : g_slot
      // W1: the id and its bank; WQ: id / LANES (the multiply by the reciprocal, a DSP block, registered);
      // W2: row and lane (id - row * LANES from shifts and adds: LANES is a constant); then the write
      reg               w1_v;
      reg [ID_BITS-1:0] w1_id;
      reg [BW-1:0]      w1_bank;
      reg               wq_v;
      reg [ID_BITS-1:0] wq_id;
      reg [ID_BITS-1:0] wq_quot;
      reg [BW-1:0]      wq_bank;
      reg               w2_v;
      reg [RW-1:0]      w2_row;
      reg [LNW-1:0]     w2_lane;
      reg [BW-1:0]      w2_bank;
      /* verilator lint_off UNUSEDSIGNAL */
      wire [MW-1:0]     prod    = {{(MW - ID_BITS){1'b0}}, w1_id} * RCP;
      wire [ID_BITS+LB:0] back  = times_lanes(wq_quot);
      wire [ID_BITS+LB:0] rem   = {{(LB + 1){1'b0}}, wq_id} - back;   // < LANES
      /* verilator lint_on UNUSEDSIGNAL */
      always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
          w1_v <= 1'b0;
          wq_v <= 1'b0;
          w2_v <= 1'b0;
        end else begin
          w1_v <= in_fire & counted[g];
          wq_v <= w1_v;
          w2_v <= wq_v;
        end
        w1_id   <= in_id[g*ID_BITS +: ID_BITS];
        w1_bank <= wb;
        wq_id   <= w1_id;
        wq_quot <= prod[RSH +: ID_BITS];
        wq_bank <= w1_bank;
        w2_row  <= wq_quot[RW-1:0];
        w2_lane <= rem[LNW-1:0];
        w2_bank <= wq_bank;
      end
      wire [AW-1:0] wr_addr;
      if (NB > 1) begin : g_wr_bank
        assign wr_addr = {w2_bank, w2_row};
      end else begin : g_wr_single
        assign wr_addr = w2_row;
        /* verilator lint_off UNUSEDSIGNAL */
        wire unused_bank = ^w2_bank;
        /* verilator lint_on UNUSEDSIGNAL */
      end
      for (l = 0; l < LANES; l = l + 1) begin : g_lane
        // Two write ports: the set (snooped ids) and the clear of the row being read, which must read
        // the old bit (read-before-write on that port). A set and a read of the same address never meet:
        // they belong to different banks. The read says so with an 'x in that case, so synthesis may
        // use a true-dual-port RAM (whose cross-port collisions are undefined) without giving up
        // read-before-write on the read/clear port; without it Yosys keeps the RAM in flip-flops.
        reg mem [0:DEPTH-1];
        reg q;
        integer i;
        initial for (i = 0; i < DEPTH; i = i + 1) mem[i] = 1'b0;
        wire set = w2_v && (w2_lane == l[LNW-1:0]);
        always @(posedge ap_clk) begin
          if (set) mem[wr_addr] <= 1'b1;
        end
        always @(posedge ap_clk) begin
          if (rd_clear) begin
            q <= (set && (wr_addr == rd_addr)) ? 1'bx : mem[rd_addr];
            mem[rd_addr] <= 1'b0;
          end
        end
        assign slot_bits[g*LANES + l] = q;
      end
    end
  endgenerate

  reg [LANES-1:0] row_bits;
  integer t;
  always @* begin
    row_bits = {LANES{1'b0}};
    for (t = 0; t < IPB; t = t + 1) row_bits = row_bits | slot_bits[t*LANES +: LANES];
  end

  assign m_axis_tdata  = out_data;
  assign m_axis_tuser  = out_user & ~row_bits;
  assign m_axis_tvalid = out_valid;
  assign m_axis_tlast  = out_last;
endmodule

`default_nettype wire
