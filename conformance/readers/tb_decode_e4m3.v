// A Verilog testbench for the $readmemh twin of decode/fp8_e4m3.txt
// (conformance/memh/decode/fp8_e4m3.memh; its fields in fp8_e4m3.json: code [39:32],
// value_f32 [31:0]): a combinational E4M3 -> float32 decoder written from SPEC.md 1.2
// is checked against every one of the 256 words.
//
//   iverilog -g2005 -o tb tb_decode_e4m3.v && vvp tb +memh=../memh/decode/fp8_e4m3.memh
`timescale 1ns/1ps

module e4m3_to_f32 (input [7:0] c, output reg [31:0] f);
  wire s = c[7];
  wire [3:0] e = c[6:3];
  wire [2:0] m = c[2:0];
  always @* begin
    if (e == 4'hF && m == 3'h7)
      f = {s, 8'hFF, 23'h400000};                 // NaN: the sign kept, quiet
    else if (e != 0)
      f = {s, {4'b0, e} + 8'd120, m, 20'b0};      // (1 + m/8) 2^(e-7)
    else if (m == 0)
      f = {s, 31'b0};                             // signed zero
    else if (m[2])
      f = {s, 8'd120, m[1:0], 21'b0};             // 0.1mm: 2^-7 x 1.mm
    else if (m[1])
      f = {s, 8'd119, m[0], 22'b0};               // 0.01m: 2^-8 x 1.m
    else
      f = {s, 8'd118, 23'b0};                     // 0.001: 2^-9
  end
endmodule

module tb;
  reg [39:0] mem [0:255];
  reg [8*512:1] path;
  reg [7:0] code;
  wire [31:0] got;
  integer i, passed, failed;
  e4m3_to_f32 dut (.c(code), .f(got));
  initial begin
    if (!$value$plusargs("memh=%s", path)) path = "fp8_e4m3.memh";
    for (i = 0; i < 256; i = i + 1) mem[i] = 40'hxxxxxxxxxx;
    $readmemh(path, mem);
    passed = 0; failed = 0;
    for (i = 0; i < 256; i = i + 1) begin
      code = mem[i][39:32];
      #1;
      if (^mem[i] === 1'bx || mem[i][39:32] != i[7:0]) begin
        $display("word %0d: missing or out of order (%h)", i, mem[i]);
        failed = failed + 1;
      end else if (got !== mem[i][31:0]) begin
        $display("code %h: file %h, decoder %h", code, mem[i][31:0], got);
        failed = failed + 1;
      end else
        passed = passed + 1;
    end
    $display("fp8_e4m3: 256 words, %0d passed, %0d failed", passed, failed);
    if (failed) $fatal(1, "mismatch");
    $finish;
  end
endmodule
