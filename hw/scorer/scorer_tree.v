// Pipelined binary adder tree: root = sum of N leaves of W bits (wrapping, width W).
//
// The leaves are inputs (not registered here); N is padded to a power of two with zeros. A level h
// (1 = first adders, LV = clog2(N) = root) is registered when h % ADDS_PER_STAGE == 0 or h == LV;
// with N == 1 the single leaf is registered. Latency in cycles of `en`:
//   N == 1 ? 1 : |{h in 1..LV : h % ADDS_PER_STAGE == 0 or h == LV}|
// (scorer.v repeats this rule in its function tree_latency).
`default_nettype none

module scorer_tree #(
    parameter integer N              = 64,
    parameter integer W              = 16,
    parameter integer ADDS_PER_STAGE = 2
) (
    input  wire         clk,
    input  wire         en,
    input  wire [N*W-1:0] leaves,
    output wire [W-1:0]   root
);
    localparam integer LV = (N > 1) ? $clog2(N) : 0;
    localparam integer NP = 1 << LV;

    genvar h, i;
    generate
        for (h = 0; h <= LV; h = h + 1) begin : g_lvl
            wire [(NP >> h)*W-1:0] val;
            if (h == 0) begin : g_leaves
                if (NP > N) begin : g_pad
                    assign val = {{((NP - N) * W){1'b0}}, leaves};
                end else begin : g_full
                    assign val = leaves;
                end
            end else begin : g_adds
                for (i = 0; i < (NP >> h); i = i + 1) begin : g_add
                    wire [W-1:0] s = g_lvl[h-1].val[(2*i)*W +: W] + g_lvl[h-1].val[(2*i+1)*W +: W];
                    if ((h % ADDS_PER_STAGE == 0) || (h == LV)) begin : g_reg
                        reg [W-1:0] q;
                        always @(posedge clk) begin
                            if (en) q <= s;
                        end
                        assign val[i*W +: W] = q;
                    end else begin : g_comb
                        assign val[i*W +: W] = s;
                    end
                end
            end
        end
        if (LV == 0) begin : g_single
            reg [W-1:0] q;
            always @(posedge clk) begin
                if (en) q <= g_lvl[0].val;
            end
            assign root = q;
        end else begin : g_root
            assign root = g_lvl[LV].val;
        end
    endgenerate
endmodule

`default_nettype wire
