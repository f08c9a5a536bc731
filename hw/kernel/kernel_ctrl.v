// kernel_ctrl.v: the kernel's packet front end (docs/model-image.md).
//
// Every input packet starts with a header word; its top byte is the kind:
//   query  0x51: bits 15:0 = n_hist. The header beat and the id beats go on to the aggregation and the history
//          mask (the header as a beat without ids). The first n_hist ids are history (kept for the
//          aggregation), the rest only excluded (kept for the mask alone). Ids >= n_items become all ones.
//   load   0x4C: the shape word, n_items, then every writable memory line by line (a line is
//          ceil(width / 32) words, LSB first). Lines go out on the load bus, one per line.
//   status 0x53: nothing else.
// Anything but a query waits until every query before it has left the kernel (`in_flight` == 0), then runs with
// the input to itself and answers with two status words. The model can only change while no query is inside,
// so the query results take the NO_MODEL flag from model_valid as it is when they leave.
//
// Load outcomes (docs/model-image.md): OK; INTERRUPTED (tlast early: after the count word the model is gone;
// before it, nothing was touched); WRONG_SHAPE (nothing written, the model stays); BAD_COUNT (n_items 0 or
// above N_MAX: no model); OVERLONG (words after the last line: no model). Checksums s1 = sum of the payload
// words (from n_items on), s2 = sum of s1 after each word, both mod 2^32.
`default_nettype none

module kernel_ctrl #(
    parameter integer ID_BITS      = 11,
    parameter integer N_MAX        = 1792,     // item capacity
    parameter [31:0]  SHAPE_WORD   = 32'd0,
    parameter integer N_MEMS       = 1,        // writable memories, in load order
    parameter integer LD_MEM_BITS  = 1,
    parameter integer LD_ADDR_BITS = 1,
    parameter integer LD_DATA_BITS = 32,       // a multiple of 32: the widest line
    parameter integer WPL_BITS     = 5,
    parameter [N_MEMS*WPL_BITS-1:0]         MEM_WPL   = {N_MEMS*WPL_BITS{1'b0}},  // words per line of memory m
    parameter [N_MEMS*(LD_ADDR_BITS+1)-1:0] MEM_LINES = {N_MEMS*(LD_ADDR_BITS+1){1'b0}}  // lines of memory m
) (
    input  wire                    ap_clk,
    input  wire                    ap_rst_n,
    // the kernel's input stream (behind a register slice)
    input  wire [31:0]             s_tdata,
    input  wire [3:0]              s_tkeep,
    input  wire                    s_tvalid,
    output wire                    s_tready,
    input  wire                    s_tlast,
    // query beats for the aggregation (q_keep_agg) and the history mask (q_keep_mask)
    output wire [2*ID_BITS-1:0]    q_id,
    output wire [1:0]              q_keep_agg,
    output wire [1:0]              q_keep_mask,
    output wire                    q_valid,
    input  wire                    q_ready,
    output wire                    q_last,
    input  wire                    q_done,      // a query's last result word left the kernel
    // the model held
    output wire [ID_BITS:0]        n_items,
    output wire                    model_valid,
    // the load bus
    output reg                     ld_valid,
    output reg  [LD_MEM_BITS-1:0]  ld_mem,
    output reg  [LD_ADDR_BITS-1:0] ld_addr,
    output wire [LD_DATA_BITS-1:0] ld_data,
    output reg                     ld_active,
    // status words
    output wire [63:0]             st_tdata,
    output wire                    st_tvalid,
    input  wire                    st_tready,
    output wire                    st_tlast
);
  localparam [7:0] KIND_QUERY = 8'h51, KIND_LOAD = 8'h4C, KIND_STATUS = 8'h53;
  localparam [3:0] C_OK = 4'd0, C_INTERRUPTED = 4'd1, C_WRONG_SHAPE = 4'd2, C_BAD_HEADER = 4'd3,
                   C_BAD_COUNT = 4'd4, C_OVERLONG = 4'd5;
  localparam integer NWORDS = LD_DATA_BITS / 32;
  localparam integer LB = LD_ADDR_BITS + 1;
  localparam integer DRAIN = 8;               // cycles after the last line before the load completes
  localparam integer LAST_MEM_I = N_MEMS - 1;
  localparam [LD_MEM_BITS-1:0] LAST_MEM = LAST_MEM_I[LD_MEM_BITS-1:0];

  localparam [3:0] S_HEAD = 4'd0, S_QUERY = 4'd1, S_IDLE_WAIT = 4'd2, S_LD_SHAPE = 4'd3, S_LD_COUNT = 4'd4,
                   S_LD_NEXT = 4'd5, S_LD_DATA = 4'd6, S_LD_DRAIN = 4'd7, S_DISCARD = 4'd8, S_ANSWER = 4'd9,
                   S_LD_INFO = 4'd10;

  generate
    if (LD_DATA_BITS % 32 != 0 || LD_DATA_BITS < 32) begin : g_check_width
      kernel_ctrl_error_LD_DATA_BITS_must_be_a_multiple_of_32 u_error ();
    end
  endgenerate

  reg [3:0]  state;
  reg [7:0]  kind;               // the non-query packet being handled
  reg        pkt_over;           // its tlast has been taken
  reg [3:0]  code;
  reg        valid_q;
  reg [15:0] n_items_q;
  reg [15:0] n_pending;          // the count of the load in progress
  reg [31:0] s1, s2;
  reg        s2_add;             // s1 took a word last cycle: s2 adds it now
  reg [7:0]  in_flight;             // queries taken whose results have not all left
  reg [1:0]  answer_beat;

  // ------------------------------------------------------------------ queries
  // History bookkeeping: hist_left ids of the history are still to come; gt0/gt1 are its compares, registered
  // with it, so a beat's kept slots come from flip-flops and one mux.
  reg [15:0] hist_left;
  reg        gt0, gt1;
  wire       in_query = (state == S_QUERY);
  wire       head_is_query = (s_tdata[31:24] == KIND_QUERY);
  wire       in_head  = (state == S_HEAD);
  wire       to_query = in_query | (in_head & head_is_query);
  wire [1:0] kept     = {&s_tkeep[3:2], &s_tkeep[1:0]};
  wire       h0       = kept[0] & gt0;
  wire       h1       = kept[1] & (kept[0] ? gt1 : gt0);
  wire [15:0] hist_next = hist_left - {14'd0, h0 & h1, h0 ^ h1};

  genvar g;
  generate
    for (g = 0; g < 2; g = g + 1) begin : g_id
      wire [15:0] id16 = s_tdata[16*g +: 16];
      assign q_id[g*ID_BITS +: ID_BITS] = (id16 >= n_items_q) ? {ID_BITS{1'b1}} : id16[ID_BITS-1:0];
    end
  endgenerate
  assign q_keep_agg  = in_query ? {h1, h0} : 2'b00;    // the header beat carries no id
  assign q_keep_mask = in_query ? kept : 2'b00;
  assign q_valid     = s_tvalid & to_query;
  assign q_last      = s_tlast;

  wire take  = s_tvalid & s_tready;
  wire ld_in = (state == S_LD_SHAPE) | (state == S_LD_COUNT) | (state == S_LD_DATA) | (state == S_DISCARD);
  assign s_tready = ap_rst_n & ((in_head & (!head_is_query | q_ready)) | (in_query & q_ready) | ld_in);

  // ------------------------------------------------------------------ the load's position
  reg [LD_MEM_BITS-1:0]  mem;           // memory being written
  reg [LB-1:0]           lines_left;    // of this memory, after the current line
  reg [WPL_BITS-1:0]     wpl_m1;        // words per line of this memory, minus one
  reg [WPL_BITS-1:0]     widx;          // next word of the line
  reg [LD_ADDR_BITS-1:0] line;
  reg [LD_DATA_BITS-1:0] buffer;
  reg                    last_mem;
  reg [3:0]              drain;
  // The memory's size, looked up in the tables of every memory (a function of `mem` alone, registered): the
  // lookup is a mux tree over all memories, so it gets a cycle of its own and the state machine waits for it.
  reg [WPL_BITS-1:0]     wpl_lut;
  reg [LB-1:0]           lines_lut;
  always @(posedge ap_clk) begin
    wpl_lut   <= MEM_WPL[mem * WPL_BITS +: WPL_BITS];
    lines_lut <= MEM_LINES[mem * LB +: LB];
  end
  // A load word is taken whenever one is there in S_LD_DATA (s_tready is 1 there): `ld_take` does not go through
  // s_tready's query terms, and `last_word` is a register.
  wire ld_take = s_tvalid & (state == S_LD_DATA);
  reg  last_word;               // == (widx == wpl_m1)
  // The word stage: a taken load word, registered with its slot in the line (one-hot) and whether it completes
  // the line. The line buffer's word enables, the checksum's and the bus's valid are then flip-flops: decoded
  // from the input handshake and the state in the same cycle, they were nets across the die (the buffer is the
  // bus, and the bus runs to every writable memory).
  reg                    w_v, w_fire;
  reg [31:0]             w_d;
  reg [NWORDS-1:0]       w_sel;
  reg [LD_MEM_BITS-1:0]  w_mem;
  reg [LD_ADDR_BITS-1:0] w_line;
  wire last_line = (lines_left == {LB{1'b0}});
  wire done_all  = last_word & last_line & last_mem;

  // ------------------------------------------------------------------ the state machine
  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      state       <= S_HEAD;
      kind        <= 8'd0;
      pkt_over    <= 1'b0;
      code        <= C_OK;
      valid_q     <= 1'b0;
      n_items_q   <= 16'd0;
      n_pending   <= 16'd0;
      s1          <= 32'd0;
      s2          <= 32'd0;
      s2_add      <= 1'b0;
      in_flight      <= 8'd0;
      answer_beat <= 2'd0;
      hist_left   <= 16'd0;
      gt0         <= 1'b0;
      gt1         <= 1'b0;
      ld_valid    <= 1'b0;
      w_v         <= 1'b0;
      w_fire      <= 1'b0;
      ld_active   <= 1'b0;
      mem         <= {LD_MEM_BITS{1'b0}};
      lines_left  <= {LB{1'b0}};
      wpl_m1      <= {WPL_BITS{1'b0}};
      last_word   <= 1'b1;
      widx        <= {WPL_BITS{1'b0}};
      line        <= {LD_ADDR_BITS{1'b0}};
      last_mem    <= 1'b0;
      drain       <= 4'd0;
    end else begin
      w_v    <= ld_take;
      w_fire <= ld_take & last_word;
      // the word stage's word: into the checksum; a line it completes goes out on the bus
      ld_valid <= w_fire;
      s2_add   <= w_v;
      if (s2_add) s2 <= s2 + s1;
      if (w_v)    s1 <= s1 + w_d;
      in_flight <= in_flight + {7'd0, take & to_query & s_tlast} - {7'd0, q_done};

      case (state)
        S_HEAD: if (take) begin
          if (head_is_query) begin
            hist_left <= s_tdata[15:0];
            gt0       <= (s_tdata[15:0] != 16'd0);
            gt1       <= (s_tdata[15:1] != 15'd0);
            if (!s_tlast) state <= S_QUERY;
          end else begin
            kind     <= s_tdata[31:24];
            pkt_over <= s_tlast;
            state    <= S_IDLE_WAIT;
          end
        end

        S_QUERY: if (take) begin
          hist_left <= hist_next;
          gt0       <= (hist_next != 16'd0);
          gt1       <= (hist_next[15:1] != 15'd0);
          if (s_tlast) state <= S_HEAD;
        end

        S_IDLE_WAIT: if (in_flight == 8'd0 && !s2_add) begin
          if (kind == KIND_LOAD) begin
            if (pkt_over) begin
              code  <= C_INTERRUPTED;
              state <= S_ANSWER;
            end else begin
              state <= S_LD_SHAPE;
            end
          end else begin
            code  <= (kind == KIND_STATUS) ? C_OK : C_BAD_HEADER;
            state <= pkt_over ? S_ANSWER : S_DISCARD;
          end
        end

        S_LD_SHAPE: if (take) begin
          if (s_tdata != SHAPE_WORD) begin
            code  <= C_WRONG_SHAPE;
            state <= s_tlast ? S_ANSWER : S_DISCARD;
          end else if (s_tlast) begin
            code  <= C_INTERRUPTED;
            state <= S_ANSWER;
          end else begin
            state <= S_LD_COUNT;
          end
        end

        S_LD_COUNT: begin
          // the first memory, whatever the count word says (only a load's states read `mem`): its enable is
          // then the state alone, not the count's compares
          mem <= {LD_MEM_BITS{1'b0}};
          if (take) begin
            // from here on the kernel holds no model until this load completes
            valid_q   <= 1'b0;
            n_items_q <= 16'd0;
            n_pending <= s_tdata[15:0];
            s1        <= s_tdata;
            s2        <= 32'd0;
            s2_add    <= 1'b1;
            if (s_tdata == 32'd0 || s_tdata > N_MAX) begin
              code  <= C_BAD_COUNT;
              state <= s_tlast ? S_ANSWER : S_DISCARD;
            end else if (s_tlast) begin
              code  <= C_INTERRUPTED;
              state <= S_ANSWER;
            end else begin
              ld_active <= 1'b1;
              state     <= S_LD_NEXT;
            end
          end
        end

        S_LD_NEXT: state <= S_LD_INFO;   // mem changed at the last edge: the lookup registers follow it now

        S_LD_INFO: begin                 // two cycles without input per memory
          wpl_m1     <= wpl_lut - 1'b1;
          last_word  <= (wpl_lut == {{(WPL_BITS-1){1'b0}}, 1'b1});
          lines_left <= lines_lut - 1'b1;
          last_mem   <= (mem == LAST_MEM);
          widx       <= {WPL_BITS{1'b0}};
          line       <= {LD_ADDR_BITS{1'b0}};
          state      <= S_LD_DATA;
        end

        S_LD_DATA: if (ld_take) begin
          if (last_word) begin
            widx     <= {WPL_BITS{1'b0}};
            last_word <= (wpl_m1 == {WPL_BITS{1'b0}});
            line     <= line + 1'b1;
            lines_left <= lines_left - 1'b1;
          end else begin
            widx <= widx + 1'b1;
            last_word <= (widx + 1'b1 == wpl_m1);
          end
          if (done_all) begin
            drain <= DRAIN[3:0];
            if (s_tlast) begin
              state <= S_LD_DRAIN;
            end else begin
              code      <= C_OVERLONG;
              ld_active <= 1'b0;
              state     <= S_DISCARD;
            end
          end else if (s_tlast) begin
            code      <= C_INTERRUPTED;
            ld_active <= 1'b0;
            state     <= S_ANSWER;
          end else if (last_word && last_line) begin
            mem   <= mem + 1'b1;
            state <= S_LD_NEXT;
          end
        end

        S_LD_DRAIN: begin
          if (drain == 4'd0) begin
            ld_active <= 1'b0;
            valid_q   <= 1'b1;
            n_items_q <= n_pending;
            code      <= C_OK;
            state     <= S_ANSWER;
          end else begin
            drain <= drain - 1'b1;
          end
        end

        S_DISCARD: if (take && s_tlast) state <= S_ANSWER;

        S_ANSWER: if (st_tvalid && st_tready) begin
          if (answer_beat == 2'd1) begin
            answer_beat <= 2'd0;
            state       <= S_HEAD;
          end else begin
            answer_beat <= 2'd1;
          end
        end

        default: state <= S_HEAD;
      endcase
    end
  end

  // The word stage's data and place, and the line buffer. The buffer is the bus's data: it gets a line's last
  // word at the edge that raises ld_valid, and every memory block registers the bus at the next edge, before
  // the next line's first word can overwrite it.
  integer wi;
  always @(posedge ap_clk) begin
    w_d    <= s_tdata;
    w_mem  <= mem;
    w_line <= line;
    for (wi = 0; wi < NWORDS; wi = wi + 1) begin
      w_sel[wi] <= ld_take && (wi[WPL_BITS-1:0] == widx);
      if (w_sel[wi]) buffer[wi*32 +: 32] <= w_d;
    end
    ld_mem  <= w_mem;
    ld_addr <= w_line;
  end
  assign ld_data = buffer;

  assign n_items     = n_items_q[ID_BITS:0];
  assign model_valid = valid_q;

  // ------------------------------------------------------------------ status words
  wire [63:0] word0 = {8'hA5, 3'b000, valid_q, code, n_items_q, SHAPE_WORD};
  wire [63:0] word1 = {s2, s1};
  assign st_tvalid = (state == S_ANSWER) && !s2_add && !w_v;
  assign st_tdata  = (answer_beat == 2'd0) ? word0 : word1;
  assign st_tlast  = (answer_beat == 2'd1);
endmodule

`default_nettype wire
