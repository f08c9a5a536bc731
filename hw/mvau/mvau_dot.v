// mvau_dot.v: one PE's SIMD-lane dot product, sum_i x[i] * w[i], as a balanced adder tree.
//
// Combinational; the caller registers the result. x[i] is IN_BITS wide (signed two's complement when
// IN_SIGNED != 0, unsigned otherwise), w[i] is W_BITS signed; element i sits at [i*BITS +: BITS].
// Every product is exact (IN_BITS + 1 + W_BITS bits) and the tree adds in ACC_BITS bits, wrapping
// modulo 2^ACC_BITS like the accumulator that follows (choose ACC_BITS so that nothing wraps).
// LUT_MULT = 0: products are `*` (synthesis maps them to DSP blocks); 1: shift-and-add over the weight's
// bits (the top one negative), so they stay in the fabric: for narrow weights this keeps DSPs free.
`default_nettype none

module mvau_dot #(
    parameter integer SIMD      = 2,
    parameter integer IN_BITS   = 4,
    parameter integer IN_SIGNED = 0,
    parameter integer W_BITS    = 4,
    parameter integer ACC_BITS  = 16,
    parameter integer LUT_MULT  = 0
) (
    input  wire [SIMD*IN_BITS-1:0] x,
    input  wire [SIMD*W_BITS-1:0]  w,
    output wire [ACC_BITS-1:0]     sum
);
  localparam integer LEAVES = 1 << $clog2(SIMD);      // tree leaves, SIMD padded to a power of two
  localparam integer PROD_W = IN_BITS + 1 + W_BITS;  // exact signed product width

  // x * w from shifts and adds: w = -w[W-1] 2^(W-1) + sum_{k < W-1} w[k] 2^k.
  function automatic signed [PROD_W-1:0] shift_add(input signed [IN_BITS:0] a, input [W_BITS-1:0] b);
    integer k;
    reg signed [PROD_W-1:0] acc;
    reg signed [PROD_W-1:0] term;
    begin
      acc = {PROD_W{1'b0}};
      for (k = 0; k < W_BITS; k = k + 1) begin
        term = {{(PROD_W-IN_BITS-1){a[IN_BITS]}}, a} <<< k;
        if (b[k]) acc = (k == W_BITS - 1) ? acc - term : acc + term;
      end
      shift_add = acc;
    end
  endfunction

  // Heap-ordered tree: node 0 is the root, node n has children 2n+1 and 2n+2, leaves start at LEAVES-1.
  wire [ACC_BITS-1:0] node [0:2*LEAVES-2] /* verilator split_var */;

  genvar i;
  generate
    for (i = 0; i < LEAVES; i = i + 1) begin : g_leaf
      if (i < SIMD) begin : g_prod
        wire                     x_msb = (IN_SIGNED != 0) ? x[i*IN_BITS+IN_BITS-1] : 1'b0;
        wire signed [IN_BITS:0]  xe    = {x_msb, x[i*IN_BITS +: IN_BITS]};
        wire signed [W_BITS-1:0] we    = w[i*W_BITS +: W_BITS];
        wire signed [PROD_W-1:0] prod  = (LUT_MULT != 0) ? shift_add(xe, we) : xe * we;
        if (ACC_BITS > PROD_W) begin : g_ext
          assign node[LEAVES-1+i] = {{(ACC_BITS-PROD_W){prod[PROD_W-1]}}, prod};
        end else begin : g_wrap
          /* verilator lint_off UNUSEDSIGNAL */
          wire [PROD_W-1:0] prod_bits = prod;
          /* verilator lint_on UNUSEDSIGNAL */
          assign node[LEAVES-1+i] = prod_bits[ACC_BITS-1:0];
        end
      end else begin : g_pad
        assign node[LEAVES-1+i] = {ACC_BITS{1'b0}};
      end
    end
    for (i = 0; i < LEAVES - 1; i = i + 1) begin : g_add
      assign node[i] = node[2*i+1] + node[2*i+2];
    end
  endgenerate

  assign sum = node[0];
endmodule

`default_nettype wire
