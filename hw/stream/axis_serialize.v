// axis_serialize.v: one wide AXI4-Stream beat -> N narrow beats (element 0 first), tlast on the last.
//
//   s_axis_tdata [N*W]  element i at [i*W +: W]
//   m_axis_tdata [W]    beat i carries element i; m_axis_tlast on beat N-1
//
// One narrow beat per cycle; a wide word is taken only while the serializer is empty, so back-to-back
// words have one idle cycle between them (N + 1 cycles per word). s_axis_tready, m_axis_tvalid and the
// data come from registers. For the shortest paths m_axis_tready should be a register too.
`default_nettype none

module axis_serialize #(
    parameter integer N = 4,    // narrow beats per wide beat (>= 1)
    parameter integer W = 8,    // narrow beat width
    parameter integer G = 128   // word bits per copy of the "full" register (its enables)
) (
    input  wire           ap_clk,
    input  wire           ap_rst_n,
    input  wire [N*W-1:0] s_axis_tdata,
    input  wire           s_axis_tvalid,
    output wire           s_axis_tready,
    output wire [W-1:0]   m_axis_tdata,
    output wire           m_axis_tvalid,
    input  wire           m_axis_tready,
    output wire           m_axis_tlast
);
  localparam integer IW   = (N > 1) ? $clog2(N) : 1;
  localparam integer LAST = N - 1;
  localparam integer NB   = N * W;
  localparam integer NG   = (NB + G - 1) / G;    // copies of `full` for the word's enables

  generate
    if (G < 1) begin : g_check_g
      axis_serialize_error_G_must_be_positive u_error ();
    end
  endgenerate

  reg [NB-1:0] word;
  reg          full;     // the state; s_axis_tready
  reg          full_v;   // == full: m_axis_tvalid (into the consumer's handshake logic, nothing else)
  reg [IW-1:0] idx;

  wire m_fire = full & m_axis_tready;
  wire at_end = (idx == LAST[IW-1:0]);
  wire take   = s_axis_tvalid & ~full;
  wire full_n = !ap_rst_n ? 1'b0 : take ? 1'b1 : m_fire ? ~at_end : full;

  // Ready only while empty: no ready chain runs from the consumer through here into the producer.
  assign s_axis_tready = ~full;
  assign m_axis_tvalid = full_v;
  assign m_axis_tdata  = word[W-1:0];
  assign m_axis_tlast  = at_end;

  // `keep` on every copy of `full`: Yosys merges equal flip-flops back into one (on the ECP5 one `full`
  // into 768 word enables and the consumer's handshake is too long a net for 100 MHz).
  (* keep *) always @(posedge ap_clk) begin
    full   <= full_n;
    full_v <= full_n;
  end

  always @(posedge ap_clk) begin
    if (!ap_rst_n)   idx <= {IW{1'b0}};
    else if (take)   idx <= {IW{1'b0}};
    else if (m_fire) idx <= idx + 1'b1;
  end

  // Element i sits at the bottom after i shifts. While empty the word follows s_axis_tdata, so the load
  // that takes a beat is the same edge and the word's enable depends on this block's registers, not on
  // s_axis_tvalid (on the ECP5 the producer's valid into 768 enables is too long a net). Each group of G bits
  // has its own copy of `full`.
  wire [NB-1:0] shifted = word >> W;
  genvar g;
  generate
    for (g = 0; g < NG; g = g + 1) begin : g_word
      localparam integer LO = g * G;
      localparam integer GB = (NB - LO < G) ? NB - LO : G;
      reg full_g;        // == full
      (* keep *) always @(posedge ap_clk) full_g <= full_n;
      always @(posedge ap_clk) begin
        if (!full_g)             word[LO +: GB] <= s_axis_tdata[LO +: GB];
        else if (m_axis_tready)  word[LO +: GB] <= shifted[LO +: GB];
      end
    end
  endgenerate
endmodule

`default_nettype wire
