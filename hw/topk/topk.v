// Streaming top-K over LANES (id, score) candidates per beat: exactly hybrec.numerics.topk
// (descending score, ties to the lower id).
//
// Candidates are compared as keys {valid, score ^ sign, ~id}: a larger key is a better candidate, and an
// empty slot (key 0) loses to every valid candidate. Structure (see README.md):
//   IN0/IN two register stages for the input beat (IN0 takes the beat with its late tuser, IN the keys);
//   LISTS  per lane, a systolic list of K cells: each cell holds its best key so far and compares it with
//          the key passed on by the cell before it (IN for cell 0), keeps the larger and passes the smaller
//          on, one cell per cycle. A query's last beat carries a flag down the list; the cycle after the flag
//          was in a cell, the cell hands its key (a register) to the merge (cell 0: the lane's head; cell i:
//          merge-list entry i-1) and restarts with the key it is offered, so the next query follows right
//          behind. No signal reaches more than one cell, and no compare reaches the merge.
//   MERGE  WAVE_D cycles after the last beat went into cell 0, the merge starts (late enough that its first
//          pop comes after the flag has left the last cell). A sorted array H holds the best remaining
//          entry of each merge list: LANES steps build H, then each step emits H[0] and inserts the next
//          entry of H[0]'s list. A step takes 1 cycle, or 2 with MERGE_SPLIT = 1 (compares registered).
`default_nettype none

module topk #(
    parameter integer LANES       = 8,
    parameter integer K           = 10,
    parameter integer ID_BITS     = 11,
    parameter integer SCORE_BITS  = 24,
    parameter integer MERGE_SPLIT = 1   // 1: the merge's compare is registered, a merge step takes 2 cycles
) (
    input  wire                                  ap_clk,
    input  wire                                  ap_rst_n,
    // candidates: lane l at [l*LW +: LW] = {id, score}; tuser[l] = lane valid; tlast ends a query
    input  wire [LANES*(ID_BITS+SCORE_BITS)-1:0] s_axis_tdata,
    input  wire [LANES-1:0]                      s_axis_tuser,
    input  wire                                  s_axis_tvalid,
    output wire                                  s_axis_tready,
    input  wire                                  s_axis_tlast,
    // K beats per query, best first: {id, score}; tuser = slot valid (fewer than K valid candidates)
    output wire [ID_BITS+SCORE_BITS-1:0]         m_axis_tdata,
    output wire                                  m_axis_tuser,
    output wire                                  m_axis_tvalid,
    input  wire                                  m_axis_tready,
    output wire                                  m_axis_tlast
);
    localparam integer LW    = ID_BITS + SCORE_BITS;
    localparam integer KW    = 1 + SCORE_BITS + ID_BITS;        // {valid, score ^ sign, ~id}
    localparam integer SW    = (LANES > 1) ? $clog2(LANES) : 1; // merge-list index
    localparam integer CW    = (LANES > K) ? ((LANES > 1) ? $clog2(LANES) : 1) : ((K > 1) ? $clog2(K) : 1);
    localparam [SCORE_BITS-1:0] SIGN = {1'b1, {(SCORE_BITS - 1){1'b0}}};
    localparam [CW-1:0] INIT_LAST = LANES[CW-1:0] - 1'b1;
    localparam [CW-1:0] OUT_LAST  = K[CW-1:0] - 1'b1;
    // Cycles from the last beat's cycle in cell 0 to the merge's first busy cycle. Its first pop (at the end
    // of cycle start + STEP*LANES + STEP - 1) must come after the last cell's hand-over into the last
    // merge-list entry (end of cycle K), and its first read of a merge list (the build's first step) after
    // entry 0's (end of cycle 2).
    localparam integer STEP   = (MERGE_SPLIT != 0) ? 2 : 1;
    localparam integer WAVE_D = (K - STEP * LANES - STEP + 2 > 3) ? (K - STEP * LANES - STEP + 2) : 3;
    localparam integer NF     = (WAVE_D > K + 1) ? WAVE_D : K + 1;   // stages of the last-beat flag

    genvar j, i;

    // ------------------------------------------------------------------ IN
    reg [LANES*KW-1:0] in_key;      // cell 0's input: 0 where no candidate (a bubble, or a lane without one)
    // IN0: the beat as it arrives (its tuser comes late, from the history mask's block RAM)
    reg                r_v;
    reg                r_last;
    reg [LANES*LW-1:0] r_data;
    reg [LANES-1:0]    r_user;

    wire [LANES*KW-1:0] s_key;
    generate
        for (j = 0; j < LANES; j = j + 1) begin : g_key
            wire [SCORE_BITS-1:0] sc = r_data[j*LW +: SCORE_BITS];
            wire [ID_BITS-1:0]    id = r_data[j*LW + SCORE_BITS +: ID_BITS];
            assign s_key[j*KW +: KW] = (r_v && r_user[j]) ? {1'b1, sc ^ SIGN, ~id} : {KW{1'b0}};
        end
    endgenerate

    // merge control (declared here: the input stall depends on it)
    reg           busy;
    reg           phase_out;      // 0: building H, 1: emitting
    reg           phase_c;        // == phase_out, for c_cmp alone (below)
    reg [CW-1:0]  cnt;
    reg           skid_valid;
    reg           out_valid;      // the output register (below) holds a result
    wire          out_en     = !skid_valid;
    reg           half;           // MERGE_SPLIT: the compare of this step is registered in gt_q
    wire          apply      = (MERGE_SPLIT == 0) || half;
    wire          step_out   = busy && phase_out && out_en && apply;
    wire          step_init  = busy && !phase_out && apply;

    // The last-beat flag: wave[i] is set while the query's last beat is in cell i (wave[0]: in IN), so
    // wave[i+1] marks cell i's hand-over; stages past that only count the cycles to the merge's start.
    reg  [NF-1:0] wave;
    wire          transfer = wave[WAVE_D-1];            // the merge starts at this edge

    // A query's last beat may leave IN0 only when neither the previous query's merge nor its flag (before
    // the merge took it) is in flight: then its cells' keys can go to the merge lists. Other beats never
    // wait. in_stall is a register, computed from the next values of what it is made of, so s_axis_tready
    // and the IN0/IN enables start at one flip-flop.
    reg  in_stall_q;
    wire in_adv = !in_stall_q;
    assign s_axis_tready = in_adv;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            r_v    <= 1'b0;
            r_last <= 1'b0;
        end else if (in_adv) begin
            r_v    <= s_axis_tvalid;
            r_last <= s_axis_tlast;
        end
    end
    always @(posedge ap_clk) begin
        if (in_adv) begin
            r_data <= s_axis_tdata;
            r_user <= s_axis_tuser;
        end
    end
    // in_key twice, the copy for the cell-0 comparators alone. `keep` on both: Yosys merges equal flip-flops
    // unless both of them are kept.
    reg [LANES*KW-1:0] in_key_c;
    (* keep *) always @(posedge ap_clk) begin
        in_key   <= in_adv ? s_key : {(LANES * KW){1'b0}};   // a stalled IN0 sends a bubble into the lists
        in_key_c <= in_adv ? s_key : {(LANES * KW){1'b0}};
    end

    // ------------------------------------------------------------------ LISTS
    // cell (j, i): s = its key; x = the key it compares this cycle (cell 0: IN's, cell i: what cell i - 1
    // passed on). It keeps the larger; the smaller goes on to cell i + 1. The cycle after the flag (wave[i+1])
    // its key goes to the merge and the cell restarts empty: it keeps x and passes nothing on.
    // The key a cell passes on is registered twice: pass_q goes into the next cell's key, its muxes and the
    // comparator that drives them, pass_c into the comparator of its key's enables alone (one register into
    // all of that is too long a net in front of the compare's carry chain for 100 MHz on the ECP5).
    /* verilator lint_off UNUSEDSIGNAL */
    wire [LANES*K*KW-1:0] pass_all;    // lane j, cell i at ((j*K)+i)*KW: the key it passes on (the last cell's goes nowhere)
    wire [LANES*K*KW-1:0] pass_c_all;  // the same, pass_c (0 for the last cell)
    /* verilator lint_on UNUSEDSIGNAL */
    wire [LANES*K*KW-1:0] cell_key;    // each cell's key (s_q), lane j cell i at ((j*K)+i)*KW
    generate
        for (j = 0; j < LANES; j = j + 1) begin : g_lane
            for (i = 0; i < K; i = i + 1) begin : g_cell
                wire [KW-1:0] x  = (i == 0) ? in_key[j*KW +: KW] : pass_all[(j*K+i-1)*KW +: KW];
                wire [KW-1:0] xc = (i == 0) ? in_key_c[j*KW +: KW] : pass_c_all[(j*K+i-1)*KW +: KW];   // == x
                reg  [KW-1:0] s_q;
                reg  [KW-1:0] pass_q;
                // x > s, computed twice from two copies of x (Yosys merges equal comparators): one drives
                // the KW enables of s_q, the other the KW muxes of the passed key (one comparator into both
                // is too slow for 100 MHz on the ECP5, most of it the fan-out's nets).
                // Written `s < x`: Yosys 0.70 maps `x > s` (and `<=`) for the ECP5 as the carry chain plus
                // a tree of LUTs for equality behind it (51 LUTs and three more levels at 34 bits), `s < x`
                // (and `>=`) as the carry chain alone.
                wire          gt   = s_q < xc;
                wire          gt_p = s_q < x;
                wire          hand = wave[i+1];   // s_q goes to the merge at this edge
                wire [KW-1:0] pass_n = gt_p ? s_q : x;
                assign cell_key[(j*K+i)*KW +: KW] = s_q;
                assign pass_all[(j*K+i)*KW +: KW] = pass_q;
                if (i + 1 < K) begin : g_pass_c
                    reg [KW-1:0] pass_c;
                    (* keep *) always @(posedge ap_clk) begin
                        if (!ap_rst_n || hand)
                            pass_c <= {KW{1'b0}};
                        else
                            pass_c <= pass_n;
                    end
                    assign pass_c_all[(j*K+i)*KW +: KW] = pass_c;
                end else begin : g_last
                    assign pass_c_all[(j*K+i)*KW +: KW] = {KW{1'b0}};
                end
                (* keep *) always @(posedge ap_clk) begin   // keep: pass_q and pass_c stay two registers
                    if (!ap_rst_n)
                        s_q <= {KW{1'b0}};
                    else
                        s_q <= (gt || hand) ? x : s_q;
                    if (!ap_rst_n || hand)
                        pass_q <= {KW{1'b0}};
                    else
                        pass_q <= pass_n;
                end
            end
        end
    endgenerate

    always @(posedge ap_clk) begin
        if (!ap_rst_n)
            wave <= {NF{1'b0}};
        else
            wave <= {wave[NF-2:0], 1'b0} | {{(NF - 1){1'b0}}, in_adv && r_v && r_last};
    end

    // ------------------------------------------------------------------ MERGE
    // After the flag, lane j's cell 0 hands its key to init_chain[j] and cell i to merge-list entry i-1.
    reg  [LANES*K*KW-1:0] mlist;       // merge lists, lane j entry r at ((j*K)+r)*KW (entry K-1 always empty)
    reg  [LANES*KW-1:0]   init_chain;  // heads, inserted into H one per cycle while building it
    reg  [LANES*KW-1:0]   h_key;       // H: sorted, one entry per merge list (or empty)
    reg  [LANES*SW-1:0]   h_src;       // the merge list each H entry came from
    reg  [KW-1:0]         nxt;         // head of the merge list of H[0]

    // merge-list heads and second entries
    wire [LANES*KW-1:0] ml_head;
    wire [LANES*KW-1:0] ml_second;
    generate
        for (j = 0; j < LANES; j = j + 1) begin : g_ml
            assign ml_head[j*KW +: KW] = mlist[(j*K)*KW +: KW];
            if (K > 1) begin : g_second
                assign ml_second[j*KW +: KW] = mlist[(j*K+1)*KW +: KW];
            end else begin : g_none
                assign ml_second[j*KW +: KW] = {KW{1'b0}};
            end
        end
    endgenerate

    // c, the entry inserted into H this step, comes from merge list `sel`: the head of the init chain
    // while building H (list cnt), then the head of H[0]'s list (two registers, one 2:1 mux)
    wire [SW-1:0] sel     = phase_out ? h_src[SW-1:0] : cnt[SW-1:0];
    wire [KW-1:0] c       = phase_out ? nxt : init_chain[KW-1:0];
    wire          c_valid = c[KW-1];
    // the same c for the compares alone, selected by phase_c (phase_out's copy): phase_out into every mux of
    // the step, then c into both the compares and H's insertion muxes, puts two long nets in front of the
    // compare's carry chain, too slow for 100 MHz on the ECP5
    wire [KW-1:0] c_cmp   = phase_c ? nxt : init_chain[KW-1:0];

    // c against every H entry; emitting removes H[0], so the output phase inserts into H[1..] + empty
    wire [LANES-1:0]    gt_h;
    reg  [LANES-1:0]    gt_q;
    wire [LANES-1:0]    gt = (MERGE_SPLIT != 0) ? gt_q : gt_h;
    wire [LANES-1:0]    g;
    wire [LANES*KW-1:0] base_key;
    wire [LANES*SW-1:0] base_src;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_cmp
            assign gt_h[i] = (h_key[i*KW +: KW] < c_cmp);   // c > H[i], as `<` (see the cells)
            if (i + 1 < LANES) begin : g_inner
                assign g[i]                    = phase_out ? gt[i+1] : gt[i];
                assign base_key[i*KW +: KW]    = phase_out ? h_key[(i+1)*KW +: KW] : h_key[i*KW +: KW];
                assign base_src[i*SW +: SW]    = phase_out ? h_src[(i+1)*SW +: SW] : h_src[i*SW +: SW];
            end else begin : g_end
                assign g[i]                    = phase_out ? c_valid : gt[i];
                assign base_key[i*KW +: KW]    = phase_out ? {KW{1'b0}} : h_key[i*KW +: KW];
                assign base_src[i*SW +: SW]    = phase_out ? {SW{1'b0}} : h_src[i*SW +: SW];
            end
        end
    endgenerate

    wire [LANES*KW-1:0] h_key_new;
    wire [LANES*SW-1:0] h_src_new;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_hins
            if (i == 0) begin : g_first
                assign h_key_new[i*KW +: KW] = g[i] ? c   : base_key[i*KW +: KW];
                assign h_src_new[i*SW +: SW] = g[i] ? sel : base_src[i*SW +: SW];
            end else begin : g_rest
                assign h_key_new[i*KW +: KW] = g[i] ? (g[i-1] ? base_key[(i-1)*KW +: KW] : c)
                                                    : base_key[i*KW +: KW];
                assign h_src_new[i*SW +: SW] = g[i] ? (g[i-1] ? base_src[(i-1)*SW +: SW] : sel)
                                                    : base_src[i*SW +: SW];
            end
        end
    endgenerate

    // after the step, H[0] is c (g[0]) or base[0]; nxt must be the head of that one's merge list
    // (when emitting, c's list is popped this step, so its new head is the current second entry)
    wire [SW-1:0] base0_src = base_src[SW-1:0];
    wire [KW-1:0] nxt_if_c  = phase_out ? ml_second[sel*KW +: KW] : ml_head[sel*KW +: KW];
    wire [KW-1:0] nxt_new   = g[0] ? nxt_if_c : (phase_out ? ml_head[base0_src*KW +: KW] : nxt);

    wire step = step_init || step_out;

    // one-hot of `sel` (the merge list popped by an emitting step; with MERGE_SPLIT, sel does not change
    // between the two cycles of a step)
    wire [LANES-1:0] sel_hot;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_sel
            localparam integer II = i;
            assign sel_hot[i] = (sel == II[SW-1:0]);
        end
    endgenerate

    always @(posedge ap_clk) begin
        gt_q      <= gt_h;                          // c, H and sel only change on a step
        if (!ap_rst_n || !busy || transfer || step)
            half <= 1'b0;
        else
            half <= 1'b1;
    end

    // keep: phase_out and phase_c stay two flip-flops (Yosys merges equal ones unless both are kept)
    (* keep *) always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            busy      <= 1'b0;
            phase_out <= 1'b0;
            cnt       <= {CW{1'b0}};
        end else if (transfer) begin
            busy      <= 1'b1;
            phase_out <= 1'b0;
            cnt       <= {CW{1'b0}};
        end else if (step_init) begin
            phase_out <= (cnt == INIT_LAST);
            cnt       <= (cnt == INIT_LAST) ? {CW{1'b0}} : cnt + 1'b1;
        end else if (step_out) begin
            busy      <= (cnt != OUT_LAST);
            cnt       <= cnt + 1'b1;
        end
    end
    (* keep *) always @(posedge ap_clk) begin
        if (!ap_rst_n || transfer)
            phase_c <= 1'b0;
        else if (step_init)
            phase_c <= (cnt == INIT_LAST);
    end

    // the next values of IN0's last-beat bit, busy and pend (as their always blocks compute them)
    wire last0_next = in_adv ? (s_axis_tvalid && s_axis_tlast) : (r_v && r_last);
    wire busy_next  = ap_rst_n && (transfer ? 1'b1 : step_out ? (cnt != OUT_LAST) : busy);
    wire pend_next;
    generate
        if (WAVE_D > 1) begin : g_pend
            assign pend_next = (in_adv && r_v && r_last) || (|wave[WAVE_D-2:0]);
        end else begin : g_pend1
            assign pend_next = in_adv && r_v && r_last;
        end
    endgenerate
    always @(posedge ap_clk) in_stall_q <= ap_rst_n && last0_next && (pend_next || busy_next);

    // Pop enables of the merge lists' entries, pop_en[q*K + r] == step_out && sel_hot[q] (sel of the step).
    // With MERGE_SPLIT they are registers, one per entry (`keep`: Yosys merges equal flip-flops), set in a
    // step's compare cycle from the next values of what step_out is made of: the output stage's skid, busy
    // and phase_out then reach no merge-list enable (one such enable into the K*KW flip-flops of a list
    // is too long a net for 100 MHz on the ECP5).
    wire [LANES*K-1:0] pop_en;
    generate
        if (MERGE_SPLIT != 0) begin : g_pop_reg
            wire phase_next = ap_rst_n && !transfer && (step_init ? (cnt == INIT_LAST) : phase_out);
            wire skid_next  = ap_rst_n && (skid_valid ? !m_axis_tready : (out_valid && !m_axis_tready && step_out));
            wire half_next  = ap_rst_n && busy && !transfer && !step;
            wire out_next   = busy_next && phase_next && !skid_next && half_next;   // step_out in the next cycle
            for (j = 0; j < LANES * K; j = j + 1) begin : g_pop
                reg q;
                (* keep *) always @(posedge ap_clk) q <= out_next && sel_hot[j / K];
                assign pop_en[j] = q;
            end
        end else begin : g_pop_now
            for (j = 0; j < LANES * K; j = j + 1) begin : g_pop
                assign pop_en[j] = step_out && sel_hot[j / K];
            end
        end
    endgenerate

    integer q, r;
    always @(posedge ap_clk) begin
        for (q = 0; q < LANES; q = q + 1) begin
            for (r = 0; r < K; r = r + 1) begin
                // cell r + 1's hand-over (the modulos keep the indices in range when r + 1 == K)
                if (r + 1 < K && wave[(r + 2) % NF])
                    mlist[(q*K+r)*KW +: KW] <= cell_key[(q*K+(r+1)%K)*KW +: KW];
                else if (r + 1 == K && wave[K])
                    mlist[(q*K+r)*KW +: KW] <= {KW{1'b0}};
                else if (pop_en[q*K+r])             // pop the merge list c came from
                    mlist[(q*K+r)*KW +: KW] <= (r + 1 < K) ? mlist[(q*K+r+1)*KW +: KW] : {KW{1'b0}};
            end
        end
    end

    // a loop variable of its own: one integer assigned in two clocked blocks is two drivers to Yosys
    integer hq;
    always @(posedge ap_clk) begin
        if (transfer) begin
            h_key <= {(LANES * KW){1'b0}};
            h_src <= {(LANES * SW){1'b0}};
            nxt   <= {KW{1'b0}};
        end else if (step) begin
            h_key <= h_key_new;
            h_src <= h_src_new;
            nxt   <= nxt_new;
        end
        if (wave[1]) begin                          // the heads: cell 0's hand-over
            for (hq = 0; hq < LANES; hq = hq + 1)
                init_chain[hq*KW +: KW] <= cell_key[(hq*K)*KW +: KW];
        end else if (step_init) begin               // next head to insert
            for (hq = 0; hq + 1 < LANES; hq = hq + 1)
                init_chain[hq*KW +: KW] <= init_chain[(hq+1)*KW +: KW];
            init_chain[(LANES-1)*KW +: KW] <= {KW{1'b0}};
        end
    end

    // ------------------------------------------------------------------ output register + skid
    wire [KW-1:0] e = h_key[KW-1:0];
    wire [LW-1:0] p_data = {~e[ID_BITS-1:0], e[KW-2:ID_BITS] ^ SIGN};
    wire          p_user = e[KW-1];
    wire          p_last = (cnt == OUT_LAST);

    reg [LW-1:0]  out_data;
    reg           out_user;
    reg           out_last;
    reg [LW-1:0]  skid_data;
    reg           skid_user;
    reg           skid_last;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            out_valid  <= 1'b0;
            skid_valid <= 1'b0;
        end else if (!skid_valid) begin
            if (!out_valid || m_axis_tready) begin
                out_valid <= step_out;
            end else if (step_out) begin
                skid_valid <= 1'b1;
            end
        end else if (m_axis_tready) begin
            skid_valid <= 1'b0;
        end
    end

    always @(posedge ap_clk) begin
        if (!skid_valid) begin
            if (!out_valid || m_axis_tready) begin
                out_data <= p_data;
                out_user <= p_user;
                out_last <= p_last;
            end else begin
                skid_data <= p_data;
                skid_user <= p_user;
                skid_last <= p_last;
            end
        end else if (m_axis_tready) begin
            out_data <= skid_data;
            out_user <= skid_user;
            out_last <= skid_last;
        end
    end

    assign m_axis_tdata  = out_data;
    assign m_axis_tuser  = out_user;
    assign m_axis_tvalid = out_valid;
    assign m_axis_tlast  = out_last;
endmodule

`default_nettype wire
