// History aggregation: the normalised mean of the history items' feature rows.
//
// Bit-exact implementation of hybrec.numerics.aggregate_history:
//   acc[j]  = sum_t feat[h_t, j]                      (first LMAX ids, ids >= N_ITEMS skipped)
//   mean[j] = sat_FEAT_BITS((acc[j] * R[n] + 2^(AGG_SHIFT-1)) >>> AGG_SHIFT)
// with R[n] = numerics.reciprocal_table(LMAX, AGG_SHIFT)[n] read from RECIP_FILE.
//
// Pipeline (see README.md): S0 accept id + ROM read, S1 ROM output, S2 row register + accumulate,
// SNAP snapshot of the packet's sums, MUL NORM_PAR products per cycle, OUT round/saturate into the
// output register.
`default_nettype none

module hist_agg #(
    parameter integer N_ITEMS   = 1682,      // rows in the feature ROM; ids >= N_ITEMS are bad ids
    parameter integer F         = 64,        // features per row
    parameter integer FEAT_BITS = 8,         // signed feature / output width
    parameter integer ID_BITS   = 11,        // item id width (2^ID_BITS >= N_ITEMS)
    parameter integer LMAX      = 64,        // ids used per packet; later ids are ignored
    parameter integer AGG_SHIFT = 16,        // fixed-point shift of the reciprocal table
    parameter integer NORM_PAR  = F,         // features normalised per cycle (F % NORM_PAR == 0)
    parameter         FEAT_FILE  = "feat.hex",  // $readmemh: N_ITEMS lines of F*FEAT_BITS bits
    parameter         RECIP_FILE = "recip.hex"  // $readmemh: LMAX+1 lines of AGG_SHIFT+1 bits
) (
    input  wire                   ap_clk,
    input  wire                   ap_rst_n,
    // history ids, one packet (tlast on the final id) per query
    input  wire [ID_BITS-1:0]     s_axis_tdata,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,
    input  wire                   s_axis_tlast,
    // one beat per query: value j at [j*FEAT_BITS +: FEAT_BITS]; tuser = {BAD_ID, TRUNCATED, EMPTY}
    output wire [F*FEAT_BITS-1:0] m_axis_tdata,
    output wire [2:0]             m_axis_tuser,
    output wire                   m_axis_tvalid,
    input  wire                   m_axis_tready,
    output wire                   m_axis_tlast
);
    localparam integer CNT_BITS   = $clog2(LMAX + 1);          // holds 0..LMAX
    localparam integer ACC_BITS   = FEAT_BITS + CNT_BITS;      // exact sum of LMAX signed values
    localparam integer RECIP_BITS = AGG_SHIFT + 1;             // R[1] = 2^AGG_SHIFT
    localparam integer PROD_BITS  = ACC_BITS + RECIP_BITS + 1; // signed acc * unsigned R
    localparam integer RND_BITS   = PROD_BITS - AGG_SHIFT;     // after the shift
    localparam integer NCH        = F / NORM_PAR;              // normaliser cycles per query
    localparam integer CH_BITS    = (NCH > 1) ? $clog2(NCH) : 1;
    localparam integer ROW_BITS   = F * FEAT_BITS;
    localparam integer AW         = (N_ITEMS > 1) ? $clog2(N_ITEMS) : 1;   // ROM address (<= ID_BITS)

    localparam [ID_BITS:0]    N_LIM    = N_ITEMS[ID_BITS:0];
    localparam [CNT_BITS-1:0] LMAX_CNT = LMAX[CNT_BITS-1:0];
    localparam [CH_BITS-1:0]  LAST_CH  = NCH[CH_BITS-1:0] - 1'b1;

    // ------------------------------------------------------------------ ROMs
    reg [ROW_BITS-1:0]   feat_rom  [0:N_ITEMS-1];
    reg [RECIP_BITS-1:0] recip_rom [0:LMAX];
    initial begin
        $readmemh(FEAT_FILE, feat_rom);
        $readmemh(RECIP_FILE, recip_rom);
    end

    // ------------------------------------------------------------------ S0: accept an id
    reg [CNT_BITS-1:0] seen;      // ids seen in this packet (saturates at LMAX)
    reg [CNT_BITS-1:0] n_used;    // valid ids counted so far
    reg                f_trunc;
    reg                f_bad;

    // S1 (ROM output) and S2 (ROM data registered in the fabric) registers
    reg                p1_v,     p2_v;
    reg                p1_use;
    reg                p1_last,  p2_last;
    reg [CNT_BITS-1:0] p1_n,     p2_n;       // final count (valid with *_last)
    reg [2:0]          p1_flags, p2_flags;   // final flags (valid with *_last)
    reg [ROW_BITS-1:0] rom_q;                // block-RAM read register
    reg [ROW_BITS-1:0] row_q;                // the row, or zeros for an ignored id

    reg                snap_full;

    // S0..S2 advance together; they wait only while the snapshot is still busy with the previous packet
    wire acc_stall = p2_v && p2_last && snap_full;   // registered-only: no path from the output side
    wire adv       = !acc_stall;
    wire in_fire   = s_axis_tvalid && adv;

    wire in_room  = (seen != LMAX_CNT);
    wire in_range = ({1'b0, s_axis_tdata} < N_LIM);
    wire in_use   = in_room && in_range;
    wire [CNT_BITS-1:0] n_next = n_used + {{(CNT_BITS - 1){1'b0}}, in_use};
    wire trunc_next = f_trunc || !in_room;
    wire bad_next   = f_bad || (in_room && !in_range);

    assign s_axis_tready = adv;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            seen    <= {CNT_BITS{1'b0}};
            n_used  <= {CNT_BITS{1'b0}};
            f_trunc <= 1'b0;
            f_bad   <= 1'b0;
        end else if (in_fire) begin
            if (s_axis_tlast) begin
                seen    <= {CNT_BITS{1'b0}};
                n_used  <= {CNT_BITS{1'b0}};
                f_trunc <= 1'b0;
                f_bad   <= 1'b0;
            end else begin
                seen    <= in_room ? seen + 1'b1 : seen;
                n_used  <= n_next;
                f_trunc <= trunc_next;
                f_bad   <= bad_next;
            end
        end
    end

    // ROM read (one registered port; ignored ids read row 0 and are zeroed in S2). The extra S2
    // register keeps the block RAM's slow clock-to-output off the accumulator adders.
    wire [AW-1:0] rom_addr = in_use ? s_axis_tdata[AW-1:0] : {AW{1'b0}};
    always @(posedge ap_clk) begin
        if (adv) begin
            rom_q <= feat_rom[rom_addr];
            row_q <= p1_use ? rom_q : {ROW_BITS{1'b0}};
        end
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            p1_v     <= 1'b0;
            p1_use   <= 1'b0;
            p1_last  <= 1'b0;
            p1_n     <= {CNT_BITS{1'b0}};
            p1_flags <= 3'b000;
            p2_v     <= 1'b0;
            p2_last  <= 1'b0;
            p2_n     <= {CNT_BITS{1'b0}};
            p2_flags <= 3'b000;
        end else if (adv) begin
            p1_v     <= in_fire;
            p1_use   <= in_fire && in_use;
            p1_last  <= s_axis_tlast;
            p1_n     <= n_next;
            p1_flags <= {bad_next, trunc_next, (n_next == {CNT_BITS{1'b0}})};
            p2_v     <= p1_v;
            p2_last  <= p1_last;
            p2_n     <= p1_n;
            p2_flags <= p1_flags;
        end
    end

    // ------------------------------------------------------------------ S2: accumulate
    reg  [F*ACC_BITS-1:0] acc;
    wire [F*ACC_BITS-1:0] acc_sum;
    genvar j;
    generate
        for (j = 0; j < F; j = j + 1) begin : g_acc
            wire signed [FEAT_BITS-1:0] fv  = row_q[j*FEAT_BITS +: FEAT_BITS];
            wire signed [ACC_BITS-1:0]  ext = {{(ACC_BITS - FEAT_BITS){fv[FEAT_BITS-1]}}, fv};
            assign acc_sum[j*ACC_BITS +: ACC_BITS] = acc[j*ACC_BITS +: ACC_BITS] + ext;
        end
    endgenerate

    wire snap_load = adv && p2_v && p2_last;   // implies !snap_full

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            acc <= {(F * ACC_BITS){1'b0}};
        end else if (adv && p2_v) begin
            acc <= p2_last ? {(F * ACC_BITS){1'b0}} : acc_sum;
        end
    end

    // ------------------------------------------------------------------ SNAP + MUL + OUT
    reg [F*ACC_BITS-1:0]         snap_acc;
    reg [RECIP_BITS-1:0]         snap_recip;
    reg [2:0]                    snap_flags;
    reg [CH_BITS-1:0]            chunk;

    reg [NORM_PAR*PROD_BITS-1:0] prod;
    reg                          mul_v;
    reg                          mul_last;
    reg [2:0]                    mul_flags;

    reg [ROW_BITS-1:0]           out_data;
    reg [2:0]                    out_flags;
    reg                          out_valid;

    wire nrm_en     = !(out_valid && !m_axis_tready);
    wire take       = snap_full && nrm_en;
    wire take_last  = take && (chunk == LAST_CH);

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            snap_full <= 1'b0;
            chunk     <= {CH_BITS{1'b0}};
        end else if (snap_load) begin
            snap_full <= 1'b1;
            chunk     <= {CH_BITS{1'b0}};
        end else if (take) begin
            snap_full <= !take_last;
            chunk     <= take_last ? {CH_BITS{1'b0}} : chunk + 1'b1;
        end
    end

    generate
        if (NCH > 1) begin : g_snap_shift
            always @(posedge ap_clk) begin
                if (snap_load)
                    snap_acc <= acc_sum;
                else if (take)
                    snap_acc <= {{(NORM_PAR * ACC_BITS){1'b0}}, snap_acc[F*ACC_BITS-1:NORM_PAR*ACC_BITS]};
            end
        end else begin : g_snap_hold
            always @(posedge ap_clk) begin
                if (snap_load) snap_acc <= acc_sum;
            end
        end
    endgenerate

    always @(posedge ap_clk) begin
        if (snap_load) begin
            snap_recip <= recip_rom[p2_n];
            snap_flags <= p2_flags;
        end
    end

    // NORM_PAR multipliers
    wire signed [RECIP_BITS:0] recip_s = {1'b0, snap_recip};
    wire [NORM_PAR*FEAT_BITS-1:0] rounded;
    genvar p;
    generate
        for (p = 0; p < NORM_PAR; p = p + 1) begin : g_norm
            wire signed [ACC_BITS-1:0]  a = snap_acc[p*ACC_BITS +: ACC_BITS];
            always @(posedge ap_clk) begin
                if (nrm_en) prod[p*PROD_BITS +: PROD_BITS] <= a * recip_s;
            end
            // (x + 2^(S-1)) >>> S == ((x >>> (S-1)) + 1) >>> 1: a narrower rounding adder
            /* verilator lint_off UNUSEDSIGNAL */
            wire [PROD_BITS-1:0] pv = prod[p*PROD_BITS +: PROD_BITS];
            wire [RND_BITS:0]    biased = pv[PROD_BITS-1:AGG_SHIFT-1] + 1'b1;
            /* verilator lint_on UNUSEDSIGNAL */
            wire [RND_BITS-1:0]  q      = biased[RND_BITS:1];
            wire sat_hi = !q[RND_BITS-1] && (|q[RND_BITS-2:FEAT_BITS-1]);
            wire sat_lo =  q[RND_BITS-1] && !(&q[RND_BITS-2:FEAT_BITS-1]);
            assign rounded[p*FEAT_BITS +: FEAT_BITS] =
                sat_hi ? {1'b0, {(FEAT_BITS - 1){1'b1}}} :
                sat_lo ? {1'b1, {(FEAT_BITS - 1){1'b0}}} : q[FEAT_BITS-1:0];
        end
    endgenerate

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            mul_v     <= 1'b0;
            mul_last  <= 1'b0;
            mul_flags <= 3'b000;
            out_valid <= 1'b0;
            out_flags <= 3'b000;
        end else if (nrm_en) begin
            mul_v     <= take;
            mul_last  <= take_last;
            mul_flags <= snap_flags;
            out_valid <= mul_v && mul_last;
            if (mul_v && mul_last) out_flags <= mul_flags;
        end
    end

    generate
        if (NCH > 1) begin : g_out_shift
            always @(posedge ap_clk) begin
                if (nrm_en && mul_v) out_data <= {rounded, out_data[ROW_BITS-1:NORM_PAR*FEAT_BITS]};
            end
        end else begin : g_out_load
            always @(posedge ap_clk) begin
                if (nrm_en && mul_v) out_data <= rounded;
            end
        end
    endgenerate

    assign m_axis_tdata  = out_data;
    assign m_axis_tuser  = out_flags;
    assign m_axis_tvalid = out_valid;
    assign m_axis_tlast  = 1'b1;
endmodule

`default_nettype wire
