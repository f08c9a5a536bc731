// History aggregation: the normalised mean of the history items' feature rows.
//
// Bit-exact implementation of hybrec.numerics.aggregate_history:
//   acc[j]  = sum_t feat[h_t, j]                      (first LMAX ids, ids >= N_ITEMS skipped)
//   mean[j] = sat_FEAT_BITS((acc[j] * R[n] + 2^(AGG_SHIFT-1)) >>> AGG_SHIFT)
// with R[n] = numerics.reciprocal_table(LMAX, AGG_SHIFT)[n] read from RECIP_FILE.
//
// IPB ids per input beat: slot s at s_axis_tdata[s*ID_BITS +: ID_BITS], present when s_axis_tkeep[s]
// (slots in order; an absent slot is no id at all: not counted, not flagged). The feature ROM has one
// read port per slot (IPB = 2: both ports of a dual-port block RAM), so a beat takes one cycle. It is
// ROM_GROUPS memories of F / ROM_GROUPS features each (one file each), every one addressed by its own
// copy of the id registers: one address register driving all of the ROM's ~90 block RAMs is too long a net.
// The feature memory is written through the load bus (below): group g is memory LD_BASE + g, N_ITEMS lines
// of (F/ROM_GROUPS)*FEAT_BITS bits, line i = item i (feature j of the group at [j*FEAT_BITS +: FEAT_BITS]).
//
// Pipeline (see README.md): IN the beat registered (+ the address copies), S0 count ids + ROM reads, S1
// ROM outputs, SO the ROM outputs copied (the block RAMs' output registers), S2 rows registered +
// accumulate, SNAP snapshot of the packet's sums, MUL NORM_PAR products per cycle (the DSPs' output
// registers), FAR the products copied into the fabric, OUT round/saturate into the output register.
`default_nettype none

module hist_agg #(
    parameter integer N_ITEMS   = 1682,      // rows in the feature ROM; ids >= N_ITEMS are bad ids
    parameter integer F         = 64,        // features per row
    parameter integer FEAT_BITS = 8,         // signed feature / output width
    parameter integer ID_BITS   = 11,        // item id width (2^ID_BITS >= N_ITEMS)
    parameter integer LMAX      = 64,        // ids used per packet; later ids are ignored
    parameter integer AGG_SHIFT = 16,        // fixed-point shift of the reciprocal table
    parameter integer NORM_PAR  = F,         // features normalised per cycle (F % NORM_PAR == 0)
    parameter integer IPB       = 1,         // ids per input beat (1 or 2: the ROM's read ports)
    parameter integer ROM_GROUPS = 1,        // feature memory column groups (F % ROM_GROUPS == 0, at most 100)
    parameter         RECIP_FILE = "recip.hex",  // $readmemh: LMAX+1 lines of AGG_SHIFT+1 bits
    // load bus: memory index of group 0, and the bus widths (set by the kernel top)
    parameter integer LD_BASE      = 0,
    parameter integer LD_MEM_BITS  = 8,
    parameter integer LD_ADDR_BITS = 16,
    parameter integer LD_DATA_BITS = (F / ROM_GROUPS) * FEAT_BITS
) (
    input  wire                   ap_clk,
    input  wire                   ap_rst_n,
    // load bus: one memory line per ld_valid cycle, only while ld_active (no query inside meanwhile)
    input  wire                    ld_valid,
    input  wire [LD_MEM_BITS-1:0]  ld_mem,
    input  wire [LD_ADDR_BITS-1:0] ld_addr,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [LD_DATA_BITS-1:0] ld_data,   // bits above this block's widest line: unused
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire                    ld_active,
    // history ids, one packet (tlast on the final beat) per query
    input  wire [IPB*ID_BITS-1:0] s_axis_tdata,
    input  wire [IPB-1:0]         s_axis_tkeep,
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
    localparam integer GF         = F / ROM_GROUPS;                        // features per ROM group
    localparam integer GROUP_BITS = GF * FEAT_BITS;

    localparam [ID_BITS:0]    N_LIM    = N_ITEMS[ID_BITS:0];
    localparam [CNT_BITS-1:0] LMAX_CNT = LMAX[CNT_BITS-1:0];
    localparam [CH_BITS-1:0]  LAST_CH  = NCH[CH_BITS-1:0] - 1'b1;

    // ------------------------------------------------------------------ ROMs (the feature ROM: see S0)
    // Block RAM read at the SO -> S2 edge (at SO's final count: its read register is S2's count) and copied
    // into the snapshot: the RAM's slow clock-to-output ends at a flip-flop, never at a multiplier, and no
    // LUT ROM hangs off the count register (as logic its 257 lines would be 5 LUT levels behind a wide fan-out).
    (* rom_style = "block" *) reg [RECIP_BITS-1:0] recip_rom [0:LMAX];
    initial begin
        $readmemh(RECIP_FILE, recip_rom);
    end

    // ------------------------------------------------------------------ IN, S0: accept and count a beat of ids
    generate
        if (IPB < 1 || IPB > 2) begin : g_check_ipb
            hist_agg_error_IPB_must_be_1_or_2 u_error ();
        end
        if (ROM_GROUPS < 1 || ROM_GROUPS > 100 || F % ROM_GROUPS != 0) begin : g_check_groups
            hist_agg_error_ROM_GROUPS_must_divide_F u_error ();
        end
        if (LD_DATA_BITS < GROUP_BITS || LD_ADDR_BITS < AW || LD_BASE + ROM_GROUPS > (1 << LD_MEM_BITS))
        begin : g_check_load_bus
            hist_agg_error_load_bus_too_narrow u_error ();
        end
    endgenerate

    reg [CNT_BITS-1:0] seen;      // ids seen in this packet (saturates at LMAX)
    reg [CNT_BITS-1:0] n_used;    // valid ids counted so far
    reg                f_trunc;
    reg                f_bad;

    // S1 (ROM outputs), SO (their copies) and S2 (the rows) registers
    reg                    p1_v,     po_v,     p2_v;
    reg                    p1_last,  po_last,  p2_last;
    reg [CNT_BITS-1:0]     p1_n,     po_n;       // final count (valid with *_last; S2 holds its reciprocal)
    reg [2:0]              p1_flags, po_flags, p2_flags;   // final flags (valid with *_last)
    reg [IPB*ROW_BITS-1:0] rom_q;                // block-RAM read registers, one per slot
    reg [IPB*ROW_BITS-1:0] rom_o;                // their plain copies: the block RAMs' output registers
    reg [IPB*ROW_BITS-1:0] row_q;                // the rows, or zeros for ignored ids

    reg                snap_full;

    // S0..S2 advance together; they wait only while the snapshot is still busy with the previous packet:
    // acc_stall == p2_v && p2_last && snap_full, kept as a register of its own (computed from the next
    // values of those three) so the enable of about 2k flip-flops starts at one flip-flop.
    reg  stall_q;
    wire stall_d;                   // its next value (below); the ROM groups keep copies of it
    wire acc_stall = stall_q;
    wire adv       = !acc_stall;
    integer si;

    // IN: the beat as it arrived, each id reduced to "in range" (IN..S2 advance together, so a beat is
    // taken whenever they advance). The compare sits before the register: from IN, only the count logic.
    reg                   in_v;
    reg [IPB-1:0]         in_ok;
    reg [IPB-1:0]         in_keep;
    reg                   in_last;
    always @(posedge ap_clk) begin
        if (!ap_rst_n)
            in_v <= 1'b0;
        else if (adv)
            in_v <= s_axis_tvalid;
        if (adv) begin
            for (si = 0; si < IPB; si = si + 1)
                in_ok[si] <= ({1'b0, s_axis_tdata[si*ID_BITS +: ID_BITS]} < N_LIM);
            in_keep <= s_axis_tkeep;
            in_last <= s_axis_tlast;
        end
    end
    wire in_fire = in_v && adv;     // S0 takes the beat held in IN

    // Slot s sits at position seen + k (k: the present slots before it); it is used when present, at a
    // position below LMAX and in range. seen <= LMAX, so "seen + k < LMAX" and the saturation "seen + k >
    // LMAX" are compares of seen with constants (below[k], above[k]), picked by the slots' count, and n_next
    // is zero only if n_used is and no slot is used: no compare waits for a sum (the count through an adder
    // into the zero test and the flags is too slow for 100 MHz on the ECP5).
    localparam integer NW = $clog2(IPB + 1);   // holds IPB
    wire [IPB:0] below;                       // [k]: seen + k < LMAX
    wire [IPB:0] above;                       // [k]: seen + k > LMAX
    genvar kb;
    generate
        for (kb = 0; kb <= IPB; kb = kb + 1) begin : g_bound
            localparam integer KK = kb;
            assign below[kb] = ({1'b0, seen} + KK[CNT_BITS:0]) < {1'b0, LMAX_CNT};
            assign above[kb] = ({1'b0, seen} + KK[CNT_BITS:0]) > {1'b0, LMAX_CNT};
        end
    endgenerate
    reg [IPB-1:0]      in_use;
    reg [NW-1:0]       k_at;      // present slots so far
    reg [NW-1:0]       n_add;     // used slots so far
    reg                trunc_next, bad_next;
    integer            s;
    always @* begin
        k_at       = {NW{1'b0}};
        n_add      = {NW{1'b0}};
        trunc_next = f_trunc;
        bad_next   = f_bad;
        for (s = 0; s < IPB; s = s + 1) begin
            in_use[s] = 1'b0;
            if (in_keep[s]) begin
                if (!below[k_at]) begin
                    trunc_next = 1'b1;
                end else if (in_ok[s]) begin
                    in_use[s] = 1'b1;
                    n_add     = n_add + 1'b1;
                end else begin
                    bad_next = 1'b1;
                end
                k_at = k_at + 1'b1;
            end
        end
    end
    wire [CNT_BITS-1:0] n_next    = n_used + {{(CNT_BITS - NW){1'b0}}, n_add};     // <= LMAX
    wire                n_zero    = (n_used == {CNT_BITS{1'b0}}) && (n_add == {NW{1'b0}});   // n_next == 0
    wire [CNT_BITS-1:0] seen_next = above[k_at] ? LMAX_CNT : seen + {{(CNT_BITS - NW){1'b0}}, k_at};

    assign s_axis_tready = adv;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            seen    <= {CNT_BITS{1'b0}};
            n_used  <= {CNT_BITS{1'b0}};
            f_trunc <= 1'b0;
            f_bad   <= 1'b0;
        end else if (in_fire) begin
            if (in_last) begin
                seen    <= {CNT_BITS{1'b0}};
                n_used  <= {CNT_BITS{1'b0}};
                f_trunc <= 1'b0;
                f_bad   <= 1'b0;
            end else begin
                seen    <= seen_next;
                n_used  <= n_next;
                f_trunc <= trunc_next;
                f_bad   <= bad_next;
            end
        end
    end

    // ------------------------------------------------------------------ load bus
    // LB: the bus registered (this block's own copy); then per group the write enable, the line and (slot 0's
    // address register, below) the address; the write is at the next edge: three edges after ld_valid.
    reg                    lb_v, lb_act;
    reg [LD_MEM_BITS-1:0]  lb_mem;
    /* verilator lint_off UNUSEDSIGNAL */
    reg [LD_ADDR_BITS-1:0] lb_addr;     // bits above the address of N_ITEMS lines: unused
    reg [GROUP_BITS-1:0]   lb_data;     // a group's line
    /* verilator lint_on UNUSEDSIGNAL */
    // `keep`: without it Yosys merges the blocks' equal copies into one, placed beside one block, and the
    // others' write data crosses the chip from it
    (* keep *) always @(posedge ap_clk) begin
        lb_v    <= ap_rst_n && ld_valid;
        lb_act  <= ap_rst_n && ld_active;
        lb_mem  <= ld_mem;
        lb_addr <= ld_addr;
        lb_data <= ld_data[GROUP_BITS-1:0];
    end

    // Feature memory reads (one registered port per slot and group). Every slot reads at its id's low bits, used or
    // not: an ignored id (absent, past LMAX or out of range) is zeroed in S2 (use_o), so no decision of S0
    // lies on the block RAM's address path. Each group has its own copies (`keep`: Yosys would merge equal
    // flip-flops back into one) of the address, of the advance register (the block RAMs' clock enables: one
    // stall register into all of them is too long a net) and of the slots' "used" bits. The read register
    // is copied as it is, on the read's own enable (rom_o): on the ECP5 that copy is the block RAM's output
    // register (ecp5_bram.py), whose clock-to-output is 0.9 ns against the read register's 5.6; the
    // zeroing and the accumulator adders come after it.
    // The load writes through slot 0's port: while ld_active, slot 0's address register takes the line's
    // address (a multiplexer in front of the register), so the write and that read share one address and
    // one block-RAM port, and slot 1 keeps the other; a write address of its own would need a third port,
    // and Yosys would build every group twice. Nothing is read meanwhile (no query is inside, so the
    // pipeline is empty and adv_g is high: the address register follows the bus).
    genvar j, g;
    generate
        for (g = 0; g < ROM_GROUPS; g = g + 1) begin : g_rom
            // no_rw_check: a line is never read while it is written (no query is inside during a load), so
            // Yosys need not emulate read-during-write with bypass logic behind the block RAMs
            (* no_rw_check *) reg [GROUP_BITS-1:0] feat_mem [0:N_ITEMS-1];
            reg                  we_g;           // write line lb_addr of this group (registered decode)
            reg [GROUP_BITS-1:0] wdata_g;        // the line
            localparam integer MEM_I = LD_BASE + g;
            localparam [LD_MEM_BITS-1:0] MEM_ID = MEM_I[LD_MEM_BITS-1:0];
            // a copy of the line per group (`keep`: Yosys would merge the equal copies), as for the address:
            // one register into all of the memory's ~90 block RAMs is too long a net
            (* keep *) always @(posedge ap_clk) begin
                we_g    <= lb_v && (lb_mem == MEM_ID);
                wdata_g <= lb_data;
            end
            reg           adv_g;                 // == adv (not inverted: the read and its copy share it)
            reg [IPB-1:0] use_g;                 // S1: the slots whose ids are used
            reg [IPB-1:0] use_o;                 // SO
            (* keep *) always @(posedge ap_clk) begin
                adv_g <= !stall_d;
                if (!ap_rst_n) begin
                    use_g <= {IPB{1'b0}};
                    use_o <= {IPB{1'b0}};
                end else if (adv) begin
                    use_g <= in_fire ? in_use : {IPB{1'b0}};
                    use_o <= use_g;
                end
            end
            for (j = 0; j < IPB; j = j + 1) begin : g_read
                localparam integer BASE = j * ROW_BITS + g * GROUP_BITS;
                reg [AW-1:0] addr;
                if (j == 0) begin : g_port_a
                    (* keep *) always @(posedge ap_clk) begin
                        if (adv_g) addr <= lb_act ? lb_addr[AW-1:0] : s_axis_tdata[AW-1:0];
                    end
                    always @(posedge ap_clk) begin
                        if (we_g) feat_mem[addr] <= wdata_g;
                    end
                end else begin : g_port_b
                    (* keep *) always @(posedge ap_clk) begin
                        if (adv_g) addr <= s_axis_tdata[j*ID_BITS +: AW];
                    end
                end
                // Slot 0's read also runs while the port writes (adv_g is high then anyway: nothing is inside
                // during a load), so the port's clock enable is the read's and its copy's, and ecp5_bram.py can
                // move rom_o into the block RAM (with adv_g alone, Yosys makes the port's enable adv_g | we_g,
                // a LUT the flip-flops do not share; that OR as a register of its own, Yosys ORs with we_g again).
                wire rd_en;
                if (j == 0) begin : g_en_a
                    assign rd_en = adv_g | we_g;
                end else begin : g_en_b
                    assign rd_en = adv_g;
                end
                always @(posedge ap_clk) begin
                    if (rd_en) begin
                        rom_q[BASE +: GROUP_BITS] <= feat_mem[addr];
                        rom_o[BASE +: GROUP_BITS] <= rom_q[BASE +: GROUP_BITS];
                    end
                    if (adv_g) row_q[BASE +: GROUP_BITS] <= use_o[j] ? rom_o[BASE +: GROUP_BITS] : {GROUP_BITS{1'b0}};
                end
            end
        end
    endgenerate

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            p1_v     <= 1'b0;
            p1_last  <= 1'b0;
            p1_n     <= {CNT_BITS{1'b0}};
            p1_flags <= 3'b000;
            po_v     <= 1'b0;
            po_last  <= 1'b0;
            po_n     <= {CNT_BITS{1'b0}};
            po_flags <= 3'b000;
            p2_v     <= 1'b0;
            p2_last  <= 1'b0;
            p2_flags <= 3'b000;
        end else if (adv) begin
            p1_v     <= in_fire;
            p1_last  <= in_last;
            p1_n     <= n_next;
            p1_flags <= {bad_next, trunc_next, n_zero};
            po_v     <= p1_v;
            po_last  <= p1_last;
            po_n     <= p1_n;
            po_flags <= p1_flags;
            p2_v     <= po_v;
            p2_last  <= po_last;
            p2_flags <= po_flags;
        end
    end

    // ------------------------------------------------------------------ S2: accumulate
    reg  [F*ACC_BITS-1:0] acc;
    wire [F*ACC_BITS-1:0] acc_sum;
    generate
        for (j = 0; j < F; j = j + 1) begin : g_acc
            wire signed [FEAT_BITS-1:0] fv0  = row_q[j*FEAT_BITS +: FEAT_BITS];
            wire signed [ACC_BITS-1:0]  ext0 = {{(ACC_BITS - FEAT_BITS){fv0[FEAT_BITS-1]}}, fv0};
            if (IPB > 1) begin : g_two
                wire signed [FEAT_BITS-1:0] fv1  = row_q[ROW_BITS + j*FEAT_BITS +: FEAT_BITS];
                wire signed [ACC_BITS-1:0]  ext1 = {{(ACC_BITS - FEAT_BITS){fv1[FEAT_BITS-1]}}, fv1};
                assign acc_sum[j*ACC_BITS +: ACC_BITS] = acc[j*ACC_BITS +: ACC_BITS] + ext0 + ext1;
            end else begin : g_one
                assign acc_sum[j*ACC_BITS +: ACC_BITS] = acc[j*ACC_BITS +: ACC_BITS] + ext0;
            end
        end
    endgenerate

    // snap_load == adv && p2_v && p2_last (== p2_v && p2_last && !snap_full), a register like stall_q: it
    // selects and enables about 1.1k snapshot flip-flops, so it must not hang off the acc_stall net.
    reg  load_q;
    wire snap_load = load_q;

    // The accumulators' enable (adv && p2_v) and clear (p2_last) are registers too, one copy per ROM group
    // of features, computed from the next values (declared below): one LUT of stall_q and p2_v into the
    // enables of all F accumulators puts two long nets in series, too slow for 100 MHz on the ECP5.
    wire acc_en_d, acc_clr_d;
    generate
        for (g = 0; g < ROM_GROUPS; g = g + 1) begin : g_acc_en
            localparam integer LO = g * GF * ACC_BITS;
            reg en_g, clr_g;         // == adv && p2_v, == p2_last
            (* keep *) always @(posedge ap_clk) begin
                en_g  <= acc_en_d;
                clr_g <= acc_clr_d;
            end
            always @(posedge ap_clk) begin
                if (!ap_rst_n) begin
                    acc[LO +: GF*ACC_BITS] <= {(GF * ACC_BITS){1'b0}};
                end else if (en_g) begin
                    acc[LO +: GF*ACC_BITS] <= clr_g ? {(GF * ACC_BITS){1'b0}} : acc_sum[LO +: GF*ACC_BITS];
                end
            end
        end
    endgenerate

    // ------------------------------------------------------------------ SNAP + MUL + OUT
    reg [F*ACC_BITS-1:0]         snap_acc;
    reg [RECIP_BITS-1:0]         snap_recip;
    reg [RECIP_BITS-1:0]         recip_q;      // S2: the reciprocal of the count (valid with p2_last)
    reg [2:0]                    snap_flags;
    reg [CH_BITS-1:0]            chunk;

    reg [NORM_PAR*PROD_BITS-1:0] prod;
    reg                          mul_v,     far_v;      // MUL: the DSP output register; FAR: the fabric copy
    reg                          mul_last,  far_last;
    reg [2:0]                    mul_flags, far_flags;
    reg [NORM_PAR*PROD_BITS-1:0] prod_far;

    reg [ROW_BITS-1:0]           out_data;
    reg [2:0]                    out_flags;
    reg                          out_valid;
    // The normaliser's and the output register's reset: a copy of ap_rst_n of their own (`keep`), placed with
    // them. The block's reset net spans its feature-memory groups, which sit wherever the die has block RAM.
    // They leave reset a cycle after the rest of the block, long before a query can reach them.
    reg                          rst_out_n;
    (* keep *) always @(posedge ap_clk) rst_out_n <= ap_rst_n;

    // MUL and OUT advance while the output register is empty (a register: this enables about 2k flip-flops,
    // so m_axis_tready must not reach it); a result taken by the consumer frees it at that edge.
    wire nrm_en     = !out_valid;
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

    // the next values of p2_v, p2_last and snap_full (as their always blocks compute them)
    wire p2_v_next      = ap_rst_n && (adv ? po_v : p2_v);
    wire p2_last_next   = ap_rst_n && (adv ? po_last : p2_last);
    wire snap_full_next = ap_rst_n && (snap_load || (take ? !take_last : snap_full));
    assign stall_d   = p2_v_next && p2_last_next && snap_full_next;
    assign acc_en_d  = !stall_d && p2_v_next;
    assign acc_clr_d = p2_last_next;
    // `keep`: Yosys would merge stall_q into one ROM group's copy, and the pipeline's enables and the
    // reciprocal ROM's clock enable would then hang off a flip-flop placed with that group, far from them
    (* keep *) always @(posedge ap_clk) begin
        stall_q <= stall_d;
        load_q  <= p2_v_next && p2_last_next && !snap_full_next;
    end

    // the reciprocal ROM's clock enable: a copy of stall_q of its own
    reg stall_r;
    (* keep *) always @(posedge ap_clk) stall_r <= stall_d;

    // The snapshot's load (snap_load) and shift (take) enables as registers of their own, one pair per chunk
    // of NORM_PAR sums, from the next values of what they are made of: `take` (snap_full && !out_valid) into
    // all F*ACC_BITS enables is too long a net for 100 MHz on the ECP5.
    localparam integer SCHUNK = NORM_PAR * ACC_BITS;
    wire out_valid_nx;             // out_valid's next value (below)
    genvar sc;
    generate
        for (sc = 0; sc < NCH; sc = sc + 1) begin : g_snap
            reg ld_s, tk_s;        // == snap_load, == take
            (* keep *) always @(posedge ap_clk) begin
                ld_s <= p2_v_next && p2_last_next && !snap_full_next;
                tk_s <= snap_full_next && !out_valid_nx;
            end
            if (sc + 1 < NCH) begin : g_shift
                always @(posedge ap_clk) begin
                    if (ld_s)      snap_acc[sc*SCHUNK +: SCHUNK] <= acc_sum[sc*SCHUNK +: SCHUNK];
                    else if (tk_s) snap_acc[sc*SCHUNK +: SCHUNK] <= snap_acc[(sc+1)*SCHUNK +: SCHUNK];
                end
            end else begin : g_top
                always @(posedge ap_clk) begin
                    if (ld_s)      snap_acc[sc*SCHUNK +: SCHUNK] <= acc_sum[sc*SCHUNK +: SCHUNK];
                    else if (tk_s) snap_acc[sc*SCHUNK +: SCHUNK] <= {SCHUNK{1'b0}};
                end
            end
        end
    endgenerate

    always @(posedge ap_clk) begin
        if (!stall_r) recip_q <= recip_rom[po_n];
    end

    always @(posedge ap_clk) begin
        if (snap_load) begin
            snap_recip <= recip_q;
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
                // the long way from the DSP row to the rounding logic gets a cycle of its own
                if (nrm_en) prod_far[p*PROD_BITS +: PROD_BITS] <= prod[p*PROD_BITS +: PROD_BITS];
            end
            // (x + 2^(S-1)) >>> S == ((x >>> (S-1)) + 1) >>> 1: a narrower rounding adder
            /* verilator lint_off UNUSEDSIGNAL */
            wire [PROD_BITS-1:0] pv = prod_far[p*PROD_BITS +: PROD_BITS];
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
        if (!rst_out_n) begin
            mul_v     <= 1'b0;
            mul_last  <= 1'b0;
            mul_flags <= 3'b000;
            far_v     <= 1'b0;
            far_last  <= 1'b0;
            far_flags <= 3'b000;
            out_valid <= 1'b0;
            out_flags <= 3'b000;
        end else if (nrm_en) begin
            mul_v     <= take;
            mul_last  <= take_last;
            mul_flags <= snap_flags;
            far_v     <= mul_v;
            far_last  <= mul_last;
            far_flags <= mul_flags;
            out_valid <= far_v && far_last;
            if (far_v && far_last) out_flags <= far_flags;
        end else if (m_axis_tready) begin
            out_valid <= 1'b0;
        end
    end

    // The output register's enable (nrm_en && far_v) is a register as well, one copy per chunk of NORM_PAR
    // features, computed from the next values of out_valid and far_v: one LUT of far_v into the enables of
    // all ROW_BITS flip-flops and into out_valid's logic is too slow a path for 100 MHz on the ECP5.
    wire far_v_next     = rst_out_n && (nrm_en ? mul_v : far_v);
    wire out_valid_next = rst_out_n && (nrm_en ? (far_v && far_last) : (out_valid && !m_axis_tready));
    assign out_valid_nx = out_valid_next;
    localparam integer CHUNK = NORM_PAR * FEAT_BITS;
    genvar oc;
    generate
        for (oc = 0; oc < NCH; oc = oc + 1) begin : g_out
            reg ld;                 // == nrm_en && far_v
            (* keep *) always @(posedge ap_clk) ld <= !out_valid_next && far_v_next;
            if (oc + 1 < NCH) begin : g_shift
                always @(posedge ap_clk) begin
                    if (ld) out_data[oc*CHUNK +: CHUNK] <= out_data[(oc+1)*CHUNK +: CHUNK];
                end
            end else begin : g_new
                always @(posedge ap_clk) begin
                    if (ld) out_data[oc*CHUNK +: CHUNK] <= rounded;
                end
            end
        end
    endgenerate

    assign m_axis_tdata  = out_data;
    assign m_axis_tuser  = out_flags;
    assign m_axis_tvalid = out_valid;
    assign m_axis_tlast  = 1'b1;
endmodule

`default_nettype wire
