// Dot-product scorer: for one user vector, the exact score of every item, LANES items per beat.
//
// Bit-exact implementation of hybrec.numerics.item_scores over the first n_items items (a run-time input,
// stable while a query is inside; N_ITEMS is the capacity). The item memory holds NROWS = ceil(N_ITEMS /
// LANES) rows of ROW_W = LANES*D*IBITS bits: item r*LANES + l at lane l of row r, value d of an item at
// [d*IBITS +: IBITS] within its lane. It is kept as column groups of ROM_GROUP_BITS bits (the last one
// takes the rest; 0: one group, the whole row), group g in its own memory of NROWS lines (load-bus memory
// LD_BASE + g, line r = row r's bits of that group), read through its own copy of the row address: one
// address register into 57 block RAMs is too long a net for 100 MHz on the ECP5. Multiples of the block
// RAM's width (18 bits on the ECP5) cost no extra RAMs.
//
// Output beats r = 0 .. the row of item n_items - 1 (one row when n_items is 0), tlast on the last (see
// README.md): lane l at [l*LW +: LW], LW = ID_BITS + SCORE_BITS, holding {id, score} (score in the low
// SCORE_BITS bits, two's complement); m_axis_tuser[l] = lane valid (r*LANES + l < n_items). Invalid lanes
// have score = most negative, id = all ones.
`default_nettype none

module scorer #(
    parameter integer N_ITEMS        = 1682,  // capacity: items the memory holds (n_items <= N_ITEMS)
    parameter integer D              = 64,
    parameter integer UBITS          = 8,
    parameter integer IBITS          = 8,
    parameter integer USER_SIGNED    = 1,   // 0: user values are unsigned
    parameter integer LANES          = 8,
    parameter integer ID_BITS        = 11,  // 2^ID_BITS >= N_ITEMS
    parameter integer SCORE_BITS     = 24,  // >= UBITS + IBITS + (USER_SIGNED ? 0 : 1) + clog2(D)
    parameter integer ADDS_PER_STAGE = 2,   // adder-tree levels between pipeline registers
    parameter integer BIT_PLANES     = 1,   // 1: per-user-bit adder trees, no multipliers; 0: `*`
    parameter integer MUL_LANES      = 0,   // BIT_PLANES = 1: lanes 0 .. MUL_LANES-1 use `*` (DSP blocks)
    parameter integer ROM_GROUP_BITS = 0,   // item ROM column group width (0: the whole row)
    parameter integer ROM_OUT_REG    = 0,   // 1: one more plain register behind the item memory's read (+1 cycle)
    // load bus: memory index of item group 0, and the bus widths (set by the kernel top)
    parameter integer LD_BASE        = 0,
    parameter integer LD_MEM_BITS    = 8,
    parameter integer LD_ADDR_BITS   = 16,
    parameter integer LD_DATA_BITS   = (ROM_GROUP_BITS > 0 && ROM_GROUP_BITS < LANES * D * IBITS)
                                       ? ROM_GROUP_BITS : LANES * D * IBITS
) (
    input  wire                                ap_clk,
    input  wire                                ap_rst_n,
    // live items (<= N_ITEMS), stable while a query is inside
    input  wire [ID_BITS:0]                    n_items,
    // load bus: one memory line per ld_valid cycle (no query inside meanwhile); ld_active is not needed here
    input  wire                                ld_valid,
    input  wire [LD_MEM_BITS-1:0]              ld_mem,
    input  wire [LD_ADDR_BITS-1:0]             ld_addr,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [LD_DATA_BITS-1:0]             ld_data,   // bits above this block's widest line: unused
    /* verilator lint_on UNUSEDSIGNAL */
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire                                ld_active,
    /* verilator lint_on UNUSEDSIGNAL */
    // one beat per query: user value d at [d*UBITS +: UBITS]
    input  wire [D*UBITS-1:0]                  s_axis_tdata,
    input  wire                                s_axis_tvalid,
    output wire                                s_axis_tready,
    // rows 0 .. (n_items - 1) / LANES per query (at least one), tlast on the last
    output wire [LANES*(ID_BITS+SCORE_BITS)-1:0] m_axis_tdata,
    output wire [LANES-1:0]                    m_axis_tuser,
    output wire                                m_axis_tvalid,
    input  wire                                m_axis_tready,
    output wire                                m_axis_tlast
);
    localparam integer NROWS    = (N_ITEMS + LANES - 1) / LANES;
    localparam integer RB       = (NROWS > 1) ? $clog2(NROWS) : 1;
    localparam integer ROW_W    = LANES * D * IBITS;
    localparam integer LW       = ID_BITS + SCORE_BITS;
    localparam integer LV       = (D > 1) ? $clog2(D) : 0;
    localparam integer SUM_BITS = UBITS + IBITS + (USER_SIGNED != 0 ? 0 : 1) + LV;
    localparam integer IW       = ID_BITS + 1;   // item index with room for the padded lanes

    // pipeline stages inside scorer_dot / scorer_tree (the rules stated there)
    function integer tree_latency;
        input integer leaves;
        input integer per_stage;
        integer h, levels;
        begin
            levels = 0;
            for (h = 1; h < leaves; h = h * 2) levels = levels + 1;
            tree_latency = (leaves > 1) ? 0 : 1;
            for (h = 1; h <= levels; h = h + 1)
                if ((h % per_stage == 0) || (h == levels)) tree_latency = tree_latency + 1;
        end
    endfunction
    // Only bit-plane lanes have a combining tree. When every lane multiplies (MUL_LANES >= LANES) there is none
    // to wait for and no lane pays its stages: the second product register that stands for one would be a
    // second hop out of the DSP row for every product bit, the densest routing of an ECP5 build.
    localparam integer PLANE_LANES = (BIT_PLANES != 0 && MUL_LANES < LANES) ? LANES - MUL_LANES : 0;
    localparam integer COMBINE_LAT = (PLANE_LANES > 0) ? tree_latency(UBITS + (USER_SIGNED != 0 ? 1 : 0),
                                                                      ADDS_PER_STAGE) : 0;
    localparam integer DOT_LAT = 1 + tree_latency(D, ADDS_PER_STAGE) + COMBINE_LAT;
    localparam integer TAG_W   = 2 + IW;          // {valid, last, base id}
    // Output FIFO: rows are read only while the FIFO has room for them, so the pipeline never stalls
    // (no enable fans out to its registers). Read-to-FIFO takes DOT_LAT + 4 + RR cycles; FIFO_DEPTH covers
    // that round trip, so the scorer keeps one beat per cycle while m_axis_tready stays high.
    localparam integer RR         = (ROM_OUT_REG != 0) ? 1 : 0;
    localparam integer FIFO_AW    = $clog2(DOT_LAT + 7 + RR);
    localparam integer FIFO_DEPTH = 1 << FIFO_AW;
    localparam integer OW         = 1 + LANES + LANES * LW;   // {last, mask, data}

    localparam integer GB       = (ROM_GROUP_BITS <= 0 || ROM_GROUP_BITS > ROW_W) ? ROW_W : ROM_GROUP_BITS;
    localparam integer NG       = (ROW_W + GB - 1) / GB;   // item ROM column groups

    localparam [IW-1:0] STEP     = LANES[IW-1:0];
    localparam integer  CW       = IW + 1;                  // rd_base + 2*LANES
    localparam [CW-1:0] STEP_C   = LANES[CW-1:0];
    localparam [CW-1:0] STEP2_C  = STEP_C + STEP_C;

    // An impossible configuration instantiates a module that does not exist; its name is the message
    // (every simulator and synthesis tool reports it; Icarus 11 has no $error in generate blocks).
    generate
        if (SCORE_BITS < SUM_BITS) begin : g_check
            scorer_error_SCORE_BITS_smaller_than_the_exact_dot_product_width u_error ();
        end
        if (NG > 100) begin : g_check_groups
            scorer_error_more_than_100_item_ROM_groups u_error ();
        end
        if (LD_DATA_BITS < GB || LD_ADDR_BITS < RB || LD_BASE + NG > (1 << LD_MEM_BITS)) begin : g_check_load_bus
            scorer_error_load_bus_too_narrow u_error ();
        end
    endgenerate

    // ------------------------------------------------------------------ load bus
    // LB: this block's own copy of the bus; each item group then registers its write enable (the decoded
    // index) and its own copies of the line and the address, and writes at the next edge (three edges after
    // ld_valid). No query is inside during a load, so a write never meets a read of its line.
    reg                    lb_v;
    reg [LD_MEM_BITS-1:0]  lb_mem;
    /* verilator lint_off UNUSEDSIGNAL */
    reg [LD_ADDR_BITS-1:0] lb_addr;   // bits above the row address: unused
    reg [GB-1:0]           lb_data;   // the widest group's line
    /* verilator lint_on UNUSEDSIGNAL */
    // `keep`: without it Yosys merges the blocks' equal copies into one, placed beside one block, and the
    // others' write data crosses the chip from it
    (* keep *) always @(posedge ap_clk) begin
        lb_v    <= ap_rst_n && ld_valid;
        lb_mem  <= ld_mem;
        lb_addr <= ld_addr;
        lb_data <= ld_data[GB-1:0];
    end

    // ------------------------------------------------------------------ live items
    // n_q: n_items registered; lim[l] = n_items - l (with a borrow bit), so lane l of the row at base b is
    // an item iff b < lim[l]: a compare of two registers, no adder in front of it.
    reg [IW-1:0]      n_q;
    reg [LANES*CW-1:0] lim;
    integer li;
    always @(posedge ap_clk) begin
        n_q <= n_items;
        for (li = 0; li < LANES; li = li + 1)
            lim[li*CW +: CW] <= {1'b0, n_items} - li[CW-1:0];
    end

    // ------------------------------------------------------------------ control
    reg               busy;
    reg [IW-1:0]      rd_base;       // first item of the row read next
    // at_last: the row read next is the query's last, (rd_base + LANES >= n_items). It is a register, set from
    // compares of registers with n_q one row ahead (rd_base2 == rd_base + 2*LANES): the count's adder and
    // compare in front of busy, the FIFO's tags and the user-vector enables are too slow for the ECP5.
    reg               at_last;
    reg [CW-1:0]      rd_base2;
    reg [D*UBITS-1:0] user_q;        // the vector of the rows read a cycle ago (below)
    reg [FIFO_AW:0]   credit_used;   // rows read and not yet popped from the output (0..FIFO_DEPTH)

    wire rd  = busy && (credit_used != FIFO_DEPTH[FIFO_AW:0]);
    wire pop = m_axis_tvalid && m_axis_tready;

    // The pipeline always advances: the last row of the previous query (in the ROM output register) moves
    // on with a copy of the old user vector at the same edge as a new user vector is taken.
    wire s_fire = s_axis_tvalid && !busy;
    assign s_axis_tready = !busy;

    reg               v0,    v1,    vo,    v2;
    reg               last0, last1, lasto, last2;
    reg [IW-1:0]      base0, base1, baseo, base2;
    // The read row: one counter here, and a plain copy of it in each column group (`keep`) that addresses the
    // group's block RAMs a cycle later (v0 is that cycle). The groups sit wherever their block RAMs are, all
    // over the die: a counter per group, enabled by `rd` and cleared by s_fire, put those two (a producer's
    // valid, the FIFO's credit) on nets to every group in the cycle they were decided.
    reg [RB-1:0]      row_c;
    wire [ROW_W-1:0]  rom_q;     // the block RAMs' read registers
    wire [ROW_W-1:0]  rom_r;     // the same, or (ROM_OUT_REG) their plain copies one cycle later
    reg [ROW_W-1:0]   rom_o;     // plain copies of rom_r
    reg [ROW_W-1:0]   row_q;     // registered again in the fabric, half-way to the products
    reg [D*UBITS-1:0] user_o;    // the user vector that belongs to rom_o
    reg [D*UBITS-1:0] user_row;  // ... and to row_q

    // Two plain registers between the block-RAM rows and the multipliers. On the ECP5, ecp5_dsp.py moves
    // row_q into the multipliers' input registers (it is fed by a flip-flop), and rom_o then stays in the
    // fabric as the half-way register: ecp5_bram.py leaves a flip-flop that feeds a multiplier (inside the
    // block RAM, the whole way would be one net in front of the multiplier). Then rom_o is fed by the
    // block RAMs' read itself (no output register: a 5.6 ns clock-to-output on the ECP5, which with the
    // net to rom_o leaves no slack at 100 MHz), unless ROM_OUT_REG puts one more register in between, which
    // ecp5_bram.py then moves into the block RAMs' output registers (0.9 ns).
    wire [D*UBITS-1:0] user_r;   // the user vector that belongs to rom_r
    wire               vr, lastr;
    wire [IW-1:0]      baser;
    generate
        if (ROM_OUT_REG != 0) begin : g_rom_reg
            reg [ROW_W-1:0]   rom_c;
            reg [D*UBITS-1:0] user_c;
            reg               v_c, last_c;
            reg [IW-1:0]      base_c;
            always @(posedge ap_clk) begin
                rom_c  <= rom_q;
                user_c <= user_q;
            end
            always @(posedge ap_clk) begin
                if (!ap_rst_n) begin
                    v_c    <= 1'b0;
                    last_c <= 1'b0;
                    base_c <= {IW{1'b0}};
                end else begin
                    v_c    <= v1;
                    last_c <= last1;
                    base_c <= base1;
                end
            end
            assign {rom_r, user_r, vr, lastr, baser} = {rom_c, user_c, v_c, last_c, base_c};
        end else begin : g_rom_direct
            assign {rom_r, user_r, vr, lastr, baser} = {rom_q, user_q, v1, last1, base1};
        end
    endgenerate
    // The user vector for the rows the groups read (a cycle after rd): the producer's data registered as it is
    // (u_in), loaded into user_q in every cycle the scorer was idle two cycles before, by `keep` copies of
    // one register of !busy (idle_q), one copy per 64 bits. user_q then changes a cycle after the edge that
    // takes a vector (s_fire) and holds it while busy. The copies come from a flip-flop, not from busy's next
    // value: busy's logic into all D*UBITS enables, or into copies spread over them, is too long a net.
    localparam integer UW = D * UBITS;
    localparam integer UG = (UW + 63) / 64;
    wire busy_next = ap_rst_n && (s_fire || (busy && !(rd && at_last)));
    reg  idle_q;
    always @(posedge ap_clk) idle_q <= !busy_next;
    genvar ug;
    generate
        for (ug = 0; ug < UG; ug = ug + 1) begin : g_user
            localparam integer LO = ug * 64;
            localparam integer UGW = (UW - LO < 64) ? UW - LO : 64;
            reg            idle_c;   // == idle_q a cycle later
            reg [UGW-1:0]  u_in;
            (* keep *) always @(posedge ap_clk) idle_c <= idle_q;
            always @(posedge ap_clk) begin
                u_in <= s_axis_tdata[LO +: UGW];
                if (idle_c) user_q[LO +: UGW] <= u_in;
            end
        end
    endgenerate
    always @(posedge ap_clk) begin
        rom_o    <= rom_r;
        user_o   <= user_r;
        row_q    <= rom_o;
        user_row <= user_o;
    end

    // The item ROM's column groups. Each reads every cycle (no enable into the RAMs): a row read while
    // `rd` is low goes down the pipeline with v0 = 0 and is dropped. Each group's copy of the row is
    // `keep` (Yosys merges equal flip-flops).
    genvar gi;
    generate
        for (gi = 0; gi < NG; gi = gi + 1) begin : g_rom
            localparam integer LO = gi * GB;
            localparam integer GW = (ROW_W - LO < GB) ? ROW_W - LO : GB;
            // Block RAM, said explicitly: Yosys' synth_xilinx otherwise built this wide, shallow ROM from
            // logic (about 21k LUTs at the ML-100K sizes instead of 57 RAMB36).
            // no_rw_check: a row is never read while it is written (no query is inside during a load), so Yosys
            // need not emulate read-during-write with bypass logic behind the block RAMs.
            (* ram_style = "block", no_rw_check *) reg [GW-1:0] item_mem [0:NROWS-1];
            localparam integer MEM_I = LD_BASE + gi;
            localparam [LD_MEM_BITS-1:0] MEM_ID = MEM_I[LD_MEM_BITS-1:0];
            reg          we;
            reg [RB-1:0] waddr;
            reg [GW-1:0] wdata;
            // the group's own copies (`keep`: Yosys would merge equal ones; the line is the low GW bits of
            // the bus for every group, and one register into all 57 block RAMs is too long a net)
            (* keep *) always @(posedge ap_clk) begin
                we    <= lb_v && (lb_mem == MEM_ID);
                waddr <= lb_addr[RB-1:0];
                wdata <= lb_data[GW-1:0];
            end
            always @(posedge ap_clk) begin
                if (we) item_mem[waddr] <= wdata;
            end
            reg [RB-1:0] row;
            reg [GW-1:0] q;
            (* keep *) always @(posedge ap_clk) row <= row_c;
            always @(posedge ap_clk) q <= item_mem[row];
            assign rom_q[LO +: GW] = q;
        end
    endgenerate

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            busy    <= 1'b0;
            row_c   <= {RB{1'b0}};
            rd_base <= {IW{1'b0}};
            rd_base2 <= STEP2_C;
            at_last <= 1'b0;
            v0      <= 1'b0;
            last0   <= 1'b0;
            base0   <= {IW{1'b0}};
            v1      <= 1'b0;
            last1   <= 1'b0;
            base1   <= {IW{1'b0}};
            vo      <= 1'b0;
            lasto   <= 1'b0;
            baseo   <= {IW{1'b0}};
            v2      <= 1'b0;
            last2   <= 1'b0;
            base2   <= {IW{1'b0}};
            credit_used <= {(FIFO_AW + 1){1'b0}};
        end else begin
            credit_used <= credit_used + {{FIFO_AW{1'b0}}, rd} - {{FIFO_AW{1'b0}}, pop};
            if (s_fire) begin
                busy     <= 1'b1;
                rd_base  <= {IW{1'b0}};
                rd_base2 <= STEP2_C;
                at_last  <= !(STEP < n_q);                  // row 0 is the last: n_items <= LANES
            end else if (rd) begin
                rd_base  <= rd_base + STEP;
                rd_base2 <= rd_base2 + STEP_C;
                at_last  <= !(rd_base2 < {1'b0, n_q});      // the next row is the last
                if (at_last) busy <= 1'b0;
            end
            if (s_fire)  row_c <= {RB{1'b0}};
            else if (rd) row_c <= row_c + 1'b1;
            v0    <= rd;
            last0 <= at_last;
            base0 <= rd_base;
            v1    <= v0;
            last1 <= last0;
            base1 <= base0;
            vo    <= vr;
            lasto <= lastr;
            baseo <= baser;
            v2    <= vo;
            last2 <= lasto;
            base2 <= baseo;
        end
    end

    // ------------------------------------------------------------------ lanes
    wire [LANES*SUM_BITS-1:0] sums;
    genvar l;
    // A multiplier lane (l < MUL_LANES, with BIT_PLANES = 1) has no combining tree: a second product register
    // and COMBINE_LAT - 1 delay stages after its sum stand for that tree's COMBINE_LAT stages, so every
    // lane's result leaves in the same cycle.
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_lane
            localparam integer MUL = ((BIT_PLANES != 0) && (l < MUL_LANES)) ? 1 : 0;
            // a multiplier lane spends one of its COMBINE_LAT delay stages as a second product register
            localparam integer PREGS = ((MUL != 0) && (COMBINE_LAT > 0)) ? 2 : 1;
            wire [SUM_BITS-1:0] sum;
            scorer_dot #(
                .D(D), .UBITS(UBITS), .IBITS(IBITS), .USER_SIGNED(USER_SIGNED),
                .ADDS_PER_STAGE(ADDS_PER_STAGE), .BIT_PLANES((MUL != 0) ? 0 : BIT_PLANES), .PROD_REGS(PREGS)
            ) u_dot (
                .clk(ap_clk),
                .en(1'b1),
                .user(user_row),
                .item(row_q[l*D*IBITS +: D*IBITS]),
                .sum(sum)
            );
            if ((MUL != 0) && (COMBINE_LAT > 1)) begin : g_delay
                reg [SUM_BITS-1:0] dly [0:COMBINE_LAT-2];
                integer k;
                always @(posedge ap_clk) begin
                    dly[0] <= sum;
                    for (k = 1; k < COMBINE_LAT - 1; k = k + 1) dly[k] <= dly[k-1];
                end
                assign sums[l*SUM_BITS +: SUM_BITS] = dly[COMBINE_LAT-2];
            end else begin : g_direct
                assign sums[l*SUM_BITS +: SUM_BITS] = sum;
            end
        end
    endgenerate

    // tags travel beside the dot products
    reg [TAG_W-1:0] tags [0:DOT_LAT-1];
    integer t;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            for (t = 0; t < DOT_LAT; t = t + 1) tags[t] <= {TAG_W{1'b0}};
        end else begin
            tags[0] <= {v2, last2, base2};
            for (t = 1; t < DOT_LAT; t = t + 1) tags[t] <= tags[t-1];
        end
    end

    wire          p_valid = tags[DOT_LAT-1][TAG_W-1];
    wire          p_last  = tags[DOT_LAT-1][TAG_W-2];
    // the lanes' ids and "real item" bits are registered beside the last tag stage (from the stage before
    // it; DOT_LAT >= 2): the id adders and range compares stay off the way into the FIFO
    wire [IW-1:0] pre_base = tags[DOT_LAT-2][IW-1:0];
    /* verilator lint_off UNUSEDSIGNAL */
    wire [IW-1:0] unused_base = tags[DOT_LAT-1][IW-1:0];
    /* verilator lint_on UNUSEDSIGNAL */

    wire [LANES*LW-1:0] p_data;
    wire [LANES-1:0]    p_mask;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_pack
            localparam integer LI = l;
            wire [ID_BITS-1:0]  id_n = pre_base[ID_BITS-1:0] + LI[ID_BITS-1:0];
            wire [CW-1:0]       lim_l = lim[l*CW +: CW];     // n_items - l, negative: no such item
            reg  [ID_BITS-1:0]  id;
            reg                 ok;
            always @(posedge ap_clk) begin
                id <= id_n;
                ok <= !lim_l[CW-1] && (pre_base < lim_l[IW-1:0]);
            end
            wire [SUM_BITS-1:0] s    = sums[l*SUM_BITS +: SUM_BITS];
            wire [SCORE_BITS-1:0] sc;
            if (SCORE_BITS > SUM_BITS) begin : g_ext
                assign sc = {{(SCORE_BITS - SUM_BITS){s[SUM_BITS-1]}}, s};
            end else begin : g_same
                assign sc = s;
            end
            assign p_mask[l] = ok;
            assign p_data[l*LW +: LW] = ok ? {id, sc}
                                           : {{ID_BITS{1'b1}}, 1'b1, {(SCORE_BITS - 1){1'b0}}};
        end
    endgenerate

    // ------------------------------------------------------------------ output FIFO + output register
    // A beat goes straight to the output register when it is free and the FIFO is empty.
    // Entry wp is always free (the FIFO never holds FIFO_DEPTH rows: the credits allow FIFO_DEPTH rows
    // past the read, and while the FIFO holds any the output register holds one too), so it is written on
    // every cycle and only wp waits for a row: no write enable. `empty` is a register of its own, so the
    // output register's enable and select are one LUT from flip-flops (on the ECP5 the count's zero test
    // into the FIFO's write enables and the output register is too slow for 100 MHz).
    reg [OW-1:0]      fifo [0:FIFO_DEPTH-1];
    reg [FIFO_AW-1:0] wp;
    reg [FIFO_AW-1:0] rp;
    reg [FIFO_AW:0]   fifo_n;
    reg               empty;     // == (fifo_n == 0)
    reg               out_valid;
    reg               out_last;
    reg [LANES*LW-1:0] out_data;
    reg [LANES-1:0]   out_mask;

    wire out_free  = !out_valid || pop;
    wire from_fifo = out_free && !empty;
    wire bypass    = out_free && empty && p_valid;
    wire to_fifo   = p_valid && !bypass;

    always @(posedge ap_clk) begin
        fifo[wp] <= {p_last, p_mask, p_data};
        if (from_fifo)
            {out_last, out_mask, out_data} <= fifo[rp];
        else if (bypass)
            {out_last, out_mask, out_data} <= {p_last, p_mask, p_data};
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            wp        <= {FIFO_AW{1'b0}};
            rp        <= {FIFO_AW{1'b0}};
            fifo_n    <= {(FIFO_AW + 1){1'b0}};
            empty     <= 1'b1;
            out_valid <= 1'b0;
        end else begin
            if (to_fifo) wp <= wp + 1'b1;
            if (from_fifo) rp <= rp + 1'b1;
            fifo_n    <= fifo_n + {{FIFO_AW{1'b0}}, to_fifo} - {{FIFO_AW{1'b0}}, from_fifo};
            empty     <= !to_fifo && (from_fifo ? (fifo_n == {{FIFO_AW{1'b0}}, 1'b1}) : empty);
            out_valid <= from_fifo || bypass || (out_valid && !pop);
        end
    end

    assign m_axis_tdata  = out_data;
    assign m_axis_tuser  = out_mask;
    assign m_axis_tvalid = out_valid;
    assign m_axis_tlast  = out_last;
endmodule

`default_nettype wire
