// The ULX3S self-test top wired to a simulated SPI flash holding the self-test image at FLASH_ADDR. The
// flash clock is the top's own net: on the board it leaves through USRMCLK, which has no output in fabric.
`default_nettype none

module ulx3s_bist_tb #(
    parameter [31:0]  SHAPE_WORD  = 32'd0,
    parameter [23:0]  FLASH_ADDR  = 24'h400000,
    parameter integer SPI_HALF    = 2,
    parameter integer WAKE_CYCLES = 64,
    parameter integer STALL_BITS  = 16,
    parameter integer QUIET_BITS  = 8,
    parameter        MEM_DIR     = "./",
    parameter        FLASH_FILE  = "bist.hex",
    parameter integer FLASH_BYTES = 1
) (
    input  wire       clk_25mhz,
    input  wire       btn_fire1,
    output wire [7:0] led
);
  wire csn, mosi, miso;
  /* verilator lint_off UNUSEDSIGNAL */
  wire holdn, wpn;
  /* verilator lint_on UNUSEDSIGNAL */
  ulx3s_bist #(
      .USE_PLL(0), .SHAPE_WORD(SHAPE_WORD), .FLASH_ADDR(FLASH_ADDR), .SPI_HALF(SPI_HALF),
      .WAKE_CYCLES(WAKE_CYCLES), .STALL_BITS(STALL_BITS), .QUIET_BITS(QUIET_BITS), .MEM_DIR(MEM_DIR)
  ) u_top (
      .clk_25mhz(clk_25mhz), .btn_fire1(btn_fire1), .led(led), .flash_csn(csn), .flash_mosi(mosi),
      .flash_miso(miso), .flash_holdn(holdn), .flash_wpn(wpn)
  );
  spi_flash_model #(.FILE(FLASH_FILE), .BASE({8'd0, FLASH_ADDR}), .SIZE(FLASH_BYTES)) u_flash (
      .sck(u_top.flash_sck), .csn(csn), .mosi(mosi), .miso(miso)
  );
endmodule

`default_nettype wire
