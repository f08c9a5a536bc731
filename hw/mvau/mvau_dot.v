// mvau_dot.v: one PE's SIMD-lane dot product, sum_i x[i] * w[i], as a balanced adder tree.
//
// x[i] is IN_BITS wide (signed two's complement when IN_SIGNED != 0, unsigned otherwise), w[i] is W_BITS
// signed; element i sits at [i*BITS +: BITS]. Every product is exact (IN_BITS + 1 + W_BITS bits) and the
// tree adds in ACC_BITS bits, wrapping modulo 2^ACC_BITS like the accumulator that follows (choose
// ACC_BITS so that nothing wraps).
// LUT_MULT = 0: products are `*` (synthesis maps them to DSP blocks); 1: shift-and-add over the weight's
// bits (the top one negative), as a balanced tree of its W_BITS terms, so they stay in the fabric: for
// narrow weights this keeps DSPs free.
//
// ADDS_PER_STAGE = 0: combinational, the caller registers `sum` (latency 0).
// ADDS_PER_STAGE = A > 0: the products are registered, then tree level h (1 = the adders of two
// products, LV = clog2(SIMD padded to a power of two) = the root) is registered when h % A == 0 or
// h == LV. Latency in clock cycles (no enable: the caller's pipeline never stalls):
//   1 + |{h in 1..LV : h % A == 0 or h == LV}|          (hybrec.compile.blocks.mvau.dot_latency)
`default_nettype none

module mvau_dot #(
    parameter integer SIMD           = 2,
    parameter integer IN_BITS        = 4,
    parameter integer IN_SIGNED      = 0,
    parameter integer W_BITS         = 4,
    parameter integer ACC_BITS       = 16,
    parameter integer LUT_MULT       = 0,
    parameter integer ADDS_PER_STAGE = 0
) (
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire                    clk,      // unused when ADDS_PER_STAGE = 0
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [SIMD*IN_BITS-1:0] x,
    input  wire [SIMD*W_BITS-1:0]  w,
    output wire [ACC_BITS-1:0]     sum
);
  localparam integer LV     = $clog2(SIMD);
  localparam integer LEAVES = 1 << LV;               // tree leaves, SIMD padded to a power of two
  localparam integer PROD_W = IN_BITS + 1 + W_BITS;  // exact signed product width
  localparam integer TL     = $clog2(W_BITS);        // levels of a shift-and-add product's term tree
  localparam integer TN     = 1 << TL;

  // Heap-ordered tree: node 0 is the root, node n has children 2n+1 and 2n+2, leaves start at LEAVES-1.
  // Node n < LEAVES-1 sits at depth $clog2(n+2)-1, i.e. at level h = LV - depth above the leaves.
  wire [ACC_BITS-1:0] node [0:2*LEAVES-2] /* verilator split_var */;

  genvar i, k;
  generate
    for (i = 0; i < LEAVES; i = i + 1) begin : g_leaf
      if (i < SIMD) begin : g_prod
        wire                     x_msb = (IN_SIGNED != 0) ? x[i*IN_BITS+IN_BITS-1] : 1'b0;
        wire signed [IN_BITS:0]  xe    = {x_msb, x[i*IN_BITS +: IN_BITS]};
        wire signed [W_BITS-1:0] we    = w[i*W_BITS +: W_BITS];
        wire signed [PROD_W-1:0] prod;
        if (LUT_MULT != 0) begin : g_shift_add
          // x * w = sum_{k < W-1} w[k] x 2^k - w[W-1] x 2^(W-1): a balanced tree of the W terms, the
          // negative one subtracted where it meets its sibling (or zero), so no separate negation.
          wire signed [PROD_W-1:0] t [0:2*TN-2] /* verilator split_var */;
          for (k = 0; k < TN; k = k + 1) begin : g_term
            if (k < W_BITS) begin : g_bit
              assign t[TN-1+k] = we[k] ? ($signed({{(PROD_W-IN_BITS-1){xe[IN_BITS]}}, xe}) <<< k)
                                       : {PROD_W{1'b0}};
            end else begin : g_zero
              assign t[TN-1+k] = {PROD_W{1'b0}};
            end
          end
          for (k = 0; k < TN - 1; k = k + 1) begin : g_tadd
            if (k >= TN / 2 - 1 && 2 * (k - (TN / 2 - 1)) + 1 == W_BITS - 1) begin : g_sub
              assign t[k] = t[2*k+1] - t[2*k+2];          // {term W-2, term W-1}
            end else if (k >= TN / 2 - 1 && 2 * (k - (TN / 2 - 1)) == W_BITS - 1) begin : g_neg
              assign t[k] = t[2*k+2] - t[2*k+1];          // {term W-1, zero padding}
            end else begin : g_add
              assign t[k] = t[2*k+1] + t[2*k+2];
            end
          end
          if (TL == 0) begin : g_one   // W_BITS = 1: the single (sign) bit
            assign prod = -t[0];
          end else begin : g_root
            assign prod = t[0];
          end
        end else begin : g_mul
          assign prod = xe * we;
        end
        wire [ACC_BITS-1:0] leaf;
        if (ACC_BITS > PROD_W) begin : g_ext
          assign leaf = {{(ACC_BITS-PROD_W){prod[PROD_W-1]}}, prod};
        end else begin : g_wrap
          /* verilator lint_off UNUSEDSIGNAL */
          wire [PROD_W-1:0] prod_bits = prod;
          /* verilator lint_on UNUSEDSIGNAL */
          assign leaf = prod_bits[ACC_BITS-1:0];
        end
        if (ADDS_PER_STAGE > 0) begin : g_reg
          reg [ACC_BITS-1:0] q;
          always @(posedge clk) q <= leaf;
          assign node[LEAVES-1+i] = q;
        end else begin : g_comb
          assign node[LEAVES-1+i] = leaf;
        end
      end else begin : g_pad
        assign node[LEAVES-1+i] = {ACC_BITS{1'b0}};
      end
    end
    for (i = 0; i < LEAVES - 1; i = i + 1) begin : g_add
      localparam integer H = LV - ($clog2(i + 2) - 1);
      wire [ACC_BITS-1:0] s = node[2*i+1] + node[2*i+2];
      if (ADDS_PER_STAGE > 0 && (H % (ADDS_PER_STAGE > 0 ? ADDS_PER_STAGE : 1) == 0 || H == LV)) begin : g_reg
        reg [ACC_BITS-1:0] q;
        always @(posedge clk) q <= s;
        assign node[i] = q;
      end else begin : g_comb
        assign node[i] = s;
      end
    end
  endgenerate

  assign sum = node[0];
endmodule

`default_nettype wire
