// Simulation model of the ECP5's USRMCLK (the fabric's way to the configuration clock pin): nothing inside;
// the self-test testbench (ulx3s_bist_tb.v) takes the flash clock from the top's own net.
`default_nettype none

module USRMCLK (
    /* verilator lint_off UNUSEDSIGNAL */
    input wire USRMCLKI,
    input wire USRMCLKTS
    /* verilator lint_on UNUSEDSIGNAL */
);
endmodule

`default_nettype wire
