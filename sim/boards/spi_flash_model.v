// A behavioural SPI NOR flash for simulation: FAST READ (0x0B: 24-bit address, 8 dummy clocks, then data
// from that address on, MSB first, shifted out on SCK's falling edges) of a $readmemh file (one byte per line)
// placed at byte BASE; bytes outside [BASE, BASE + SIZE) read as erased (0xFF). Every other command (the
// wake-up 0xAB included) is taken and ignored.
`default_nettype none

module spi_flash_model #(
    parameter        FILE = "",
    parameter integer BASE = 0,
    parameter integer SIZE = 1
) (
    input  wire sck,
    input  wire csn,
    input  wire mosi,
    output reg  miso
);
  reg [7:0]  mem [0:SIZE-1];
  reg [39:0] sr;       // command, address, dummy byte as shifted in
  reg [5:0]  n;        // rising edges since chip select fell, up to 40
  reg [31:0] dbit;     // data bits shifted out
  integer i;
  initial begin
    for (i = 0; i < SIZE; i = i + 1) mem[i] = 8'hFF;
    if (FILE != "") $readmemh(FILE, mem);
    miso = 1'b1;
  end

  always @(posedge sck or posedge csn) begin
    if (csn) begin
      n <= 6'd0;
    end else begin
      if (n < 6'd40) begin   // command, address, dummy byte; then the data phase holds them
        sr <= {sr[38:0], mosi};
        n  <= n + 6'd1;
      end
    end
  end

  wire [31:0] addr = {8'd0, sr[31:8]} + (dbit >> 3);
  wire [31:0] rel  = addr - BASE;
  wire [7:0]  byte_out = (addr >= BASE && rel < SIZE) ? mem[rel] : 8'hFF;
  always @(negedge sck or posedge csn) begin
    if (csn) begin
      dbit <= 32'd0;
    end else if (n >= 6'd40 && sr[39:32] == 8'h0B) begin
      miso <= byte_out[3'd7 - dbit[2:0]];
      dbit <= dbit + 32'd1;
    end
  end
endmodule

`default_nettype wire
