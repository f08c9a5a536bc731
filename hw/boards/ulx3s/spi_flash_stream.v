// spi_flash_stream: reads an SPI NOR flash from byte address ADDR onwards as a stream of 32-bit
// little-endian words (m_valid/m_ready), for as long as the consumer takes them.
//
// SPI mode 0, one data line: after reset, RELEASE FROM DEEP POWER-DOWN (0xAB; harmless when the flash is
// awake: chip select rises after the opcode) and WAKE_CYCLES with chip select high (tRES1 is at most 3 us on
// the usual parts), then one FAST READ (0x0B, 24-bit address, 8 dummy clocks) whose data phase never ends:
// the flash's address counter runs on by itself. SCK toggles every HALF cycles of clk (SCK = clk / (2 HALF));
// while a finished word waits for the consumer, SCK stays low before the next rising edge (a flash is static:
// the clock may stop for any time with chip select low).
//
// MISO goes through a flip-flop (miso_q) and is taken at a rising edge of SCK, so it is sampled HALF - 1
// cycles of clk after the falling edge that launched it: HALF >= 2 leaves at least one clk period for the
// flash's clock-to-output and both pads (about 8 + 10 ns at 3.3 V), which at 100 MHz needs HALF >= 3.
`default_nettype none

module spi_flash_stream #(
    parameter integer HALF        = 4,          // clk cycles per SCK half period, >= 2
    parameter [23:0]  ADDR        = 24'h400000,  // first byte read
    parameter integer WAKE_CYCLES = 4096        // chip select high after the wake-up command
) (
    input  wire        clk,
    input  wire        rst_n,                 // synchronous; low restarts from the wake-up command
    output reg  [31:0] m_data,
    output reg         m_valid,
    input  wire        m_ready,
    output reg         spi_sck,
    output reg         spi_csn,
    output reg         spi_mosi,
    input  wire        spi_miso
);
  localparam [2:0] S_START = 3'd0, S_WAKE = 3'd1, S_GAP = 3'd2, S_CMD = 3'd3, S_DATA = 3'd4;
  localparam integer DW = (HALF > 2) ? $clog2(HALF) : 1;
  localparam integer GW = $clog2(WAKE_CYCLES + 1);
  localparam [DW-1:0] DIV_END = HALF[DW-1:0] - 1'b1;
  localparam [GW-1:0] GAP_END = WAKE_CYCLES[GW-1:0];

  reg [2:0]    state;
  reg [DW-1:0] div;
  reg [GW-1:0] gap;
  reg [38:0]   tx;       // bits still to send after the one on MOSI, MSB first
  reg [5:0]    tx_left;  // falling edges left in the command phase
  reg [6:0]    rx;       // the byte's bits so far
  reg [2:0]    rx_bit;
  reg [1:0]    rx_byte;
  reg [23:0]   acc;      // the word's earlier bytes, the latest on top
  reg          miso_q;
  // held: a word is finished and not taken yet (== m_valid | word_done, a register of its own beside the
  // divider: m_valid sits by the consumer). The word is assembled in `word` by the flash pins and moves to
  // m_data a cycle later, so the divider's logic reaches no flip-flop far from it. div_end: div == DIV_END,
  // registered.
  reg          held;
  reg          div_end;
  reg  [31:0]  word;
  reg          word_done;

  wire active   = (state == S_WAKE) || (state == S_CMD) || (state == S_DATA);
  // a rising edge in the data phase waits while a finished word is held (a flip-flop: the consumer's ready
  // stays out of the divider and the command counters; a word taken this cycle costs SCK at most one clk
  // cycle)
  wire stall    = (state == S_DATA) && !spi_sck && held;
  wire tick     = active && !stall && div_end;
  wire [DW-1:0] div_inc = div + 1'b1;
  wire rising   = tick && !spi_sck;
  wire falling  = tick && spi_sck;
  reg        rx_take, rx_bitval;
  wire [7:0] rx_next = {rx[6:0], rx_bitval};

  always @(posedge clk) begin
    miso_q <= spi_miso;
    if (m_valid && m_ready) begin
      m_valid <= 1'b0;
      held    <= 1'b0;
    end
    word_done <= 1'b0;
    if (word_done) begin
      m_data  <= word;
      m_valid <= 1'b1;
    end
    if (!rst_n) begin
      state   <= S_START;
      spi_csn <= 1'b1;
      spi_sck <= 1'b0;
      spi_mosi <= 1'b0;
      div     <= {DW{1'b0}};
      div_end <= (DIV_END == {DW{1'b0}});
      gap     <= {GW{1'b0}};
      rx_bit  <= 3'd0;
      rx_byte <= 2'd0;
      m_valid <= 1'b0;
      held    <= 1'b0;
      word_done <= 1'b0;
      rx_take <= 1'b0;
    end else begin
      if (active && !stall) begin
        div     <= tick ? {DW{1'b0}} : div_inc;
        div_end <= tick ? (DIV_END == {DW{1'b0}}) : (div_inc == DIV_END);
      end
      if (rising) spi_sck <= 1'b1;
      if (falling) spi_sck <= 1'b0;
      case (state)
        S_START: begin   // chip select high for WAKE_CYCLES after reset, then the wake-up command
          gap <= gap + 1'b1;
          if (gap == GAP_END) begin
            state    <= S_WAKE;
            spi_csn  <= 1'b0;
            {spi_mosi, tx} <= {8'hAB, 32'd0};
            tx_left  <= 6'd8;
            div      <= {DW{1'b0}};
            div_end  <= (DIV_END == {DW{1'b0}});
          end
        end
        S_WAKE, S_CMD: if (falling) begin
          tx       <= {tx[37:0], 1'b0};
          spi_mosi <= tx[38];
          tx_left  <= tx_left - 1'b1;
          if (tx_left == 6'd1) begin
            spi_mosi <= 1'b0;
            if (state == S_WAKE) begin
              state   <= S_GAP;
              spi_csn <= 1'b1;
              gap     <= {GW{1'b0}};
            end else begin
              state <= S_DATA;
            end
          end
        end
        S_GAP: begin
          gap <= gap + 1'b1;
          if (gap == GAP_END) begin
            state    <= S_CMD;
            spi_csn  <= 1'b0;
            {spi_mosi, tx} <= {8'h0B, ADDR, 8'h00};
            tx_left  <= 6'd40;
            div      <= {DW{1'b0}};
            div_end  <= (DIV_END == {DW{1'b0}});
          end
        end
        S_DATA: ;
        default: state <= S_START;
      endcase
      // the bit sampled at a data-phase rising edge, taken a cycle later (rx_take, rx_bitval: flip-flops
      // into the receive registers' enables and data)
      rx_take   <= rising && (state == S_DATA);
      rx_bitval <= miso_q;
      if (rx_take) begin
        rx     <= rx_next[6:0];
        rx_bit <= rx_bit + 1'b1;
        if (rx_bit == 3'd7) begin
          rx_byte <= rx_byte + 1'b1;
          acc     <= {rx_next, acc[23:8]};
          if (rx_byte == 2'd3) begin
            word      <= {rx_next, acc};
            word_done <= 1'b1;
            held      <= 1'b1;
          end
        end
      end
    end
  end
endmodule

`default_nettype wire
