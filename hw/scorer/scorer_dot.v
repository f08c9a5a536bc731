// One scorer lane: the exact signed dot product of a user vector and an item vector, pipelined.
//
// BIT_PLANES = 1 (default): no multipliers. For every user bit b, an adder tree sums the item values
// whose user value has bit b set (P_b); the lane result is sum_b 2^b P_b, the top plane negated for a
// signed user (-x = ~x + 1). With low-bit users this takes far fewer LUTs than LUT multipliers (Yosys,
// ECP5, D = 64, UBITS = 4, IBITS = 8: about 4.7k instead of 11k LUT4 per lane).
// BIT_PLANES = 0: D `*` products (synthesis may use DSP blocks) and one adder tree.
//
// Stage 0 registers the masked item values (or the products); then scorer_tree pipelines (registers
// every ADDS_PER_STAGE levels and at each root). Latency in cycles of `en`, with tree_latency(n) as in
// scorer_tree.v:
//   BIT_PLANES = 1: 1 + tree_latency(D) + tree_latency(UBITS + (USER_SIGNED ? 1 : 0))
//   BIT_PLANES = 0: PROD_REGS + tree_latency(D)
// (scorer.v computes the same number to delay its tags).
`default_nettype none

module scorer_dot #(
    parameter integer D              = 64,
    parameter integer UBITS          = 8,
    parameter integer IBITS          = 8,
    parameter integer USER_SIGNED    = 1,   // 0: user values are unsigned UBITS-bit
    parameter integer ADDS_PER_STAGE = 2,
    parameter integer BIT_PLANES     = 1,   // 1: masked adder trees per user bit; 0: multipliers
    parameter integer PROD_REGS      = 1    // BIT_PLANES = 0: register stages after each product (1 or 2)
) (
    input  wire                  clk,
    input  wire                  en,
    input  wire [D*UBITS-1:0]    user,
    input  wire [D*IBITS-1:0]    item,
    // signed, exact: UBITS + IBITS + (USER_SIGNED != 0 ? 0 : 1) + clog2(D) bits
    output wire [UBITS+IBITS+(USER_SIGNED != 0 ? 0 : 1)+((D > 1) ? $clog2(D) : 0)-1:0] sum
);
    localparam integer LV       = (D > 1) ? $clog2(D) : 0;
    localparam integer SUM_BITS = UBITS + IBITS + (USER_SIGNED != 0 ? 0 : 1) + LV;
    localparam integer UW       = UBITS + (USER_SIGNED != 0 ? 0 : 1);
    localparam integer PW       = IBITS + LV;                          // exact width of one plane sum
    localparam integer NC       = UBITS + (USER_SIGNED != 0 ? 1 : 0);  // planes (+ the negation's 1)

    genvar b, d;
    generate
        if (BIT_PLANES != 0) begin : g_planes
            wire [NC*SUM_BITS-1:0] terms;
            for (b = 0; b < UBITS; b = b + 1) begin : g_plane
                wire [D*PW-1:0] masked;
                for (d = 0; d < D; d = d + 1) begin : g_leaf
                    reg [IBITS-1:0] q;
                    always @(posedge clk) begin
                        if (en) q <= user[d*UBITS + b] ? item[d*IBITS +: IBITS] : {IBITS{1'b0}};
                    end
                    if (PW > IBITS) begin : g_ext
                        assign masked[d*PW +: PW] = {{(PW - IBITS){q[IBITS-1]}}, q};
                    end else begin : g_same
                        assign masked[d*PW +: PW] = q;
                    end
                end
                wire [PW-1:0] plane;
                scorer_tree #(.N(D), .W(PW), .ADDS_PER_STAGE(ADDS_PER_STAGE)) u_tree (
                    .clk(clk), .en(en), .leaves(masked), .root(plane)
                );
                wire [SUM_BITS-1:0] wide    = {{(SUM_BITS - PW){plane[PW-1]}}, plane};
                wire [SUM_BITS-1:0] shifted = wide << b;
                if ((USER_SIGNED != 0) && (b == UBITS - 1)) begin : g_neg
                    assign terms[b*SUM_BITS +: SUM_BITS] = ~shifted;
                end else begin : g_pos
                    assign terms[b*SUM_BITS +: SUM_BITS] = shifted;
                end
            end
            if (USER_SIGNED != 0) begin : g_one
                assign terms[UBITS*SUM_BITS +: SUM_BITS] = {{(SUM_BITS - 1){1'b0}}, 1'b1};
            end
            scorer_tree #(.N(NC), .W(SUM_BITS), .ADDS_PER_STAGE(ADDS_PER_STAGE)) u_combine (
                .clk(clk), .en(en), .leaves(terms), .root(sum)
            );
        end else begin : g_mul
            wire [D*SUM_BITS-1:0] prods;
            for (d = 0; d < D; d = d + 1) begin : g_prod
                wire signed [IBITS-1:0] v = item[d*IBITS +: IBITS];
                wire signed [UW-1:0]    u;
                if (USER_SIGNED != 0) begin : g_s
                    assign u = user[d*UBITS +: UBITS];
                end else begin : g_u
                    assign u = {1'b0, user[d*UBITS +: UBITS]};
                end
                wire signed [UW+IBITS-1:0] pr = u * v;
                reg         [UW+IBITS-1:0] q0;   // the DSP's output register (ECP5 flow: ecp5_dsp.py)
                always @(posedge clk) begin
                    if (en) q0 <= pr;
                end
                // A second register takes the long way from the DSP row to the adder tree on its own.
                wire [UW+IBITS-1:0] q;
                if (PROD_REGS > 1) begin : g_far
                    reg [UW+IBITS-1:0] q1;
                    always @(posedge clk) begin
                        if (en) q1 <= q0;
                    end
                    assign q = q1;
                end else begin : g_near
                    assign q = q0;
                end
                if (SUM_BITS > UW + IBITS) begin : g_ext
                    assign prods[d*SUM_BITS +: SUM_BITS] = {{(SUM_BITS - UW - IBITS){q[UW+IBITS-1]}}, q};
                end else begin : g_same
                    assign prods[d*SUM_BITS +: SUM_BITS] = q;
                end
            end
            scorer_tree #(.N(D), .W(SUM_BITS), .ADDS_PER_STAGE(ADDS_PER_STAGE)) u_tree (
                .clk(clk), .en(en), .leaves(prods), .root(sum)
            );
        end
    endgenerate
endmodule

`default_nettype wire
