# run_hls.tcl: the Vitis HLS flow of hybrec_kernel_hls — C simulation against the build's golden vectors,
# C synthesis, IP export (Vivado IP catalog).
#
# Run it in the folder that `hybrec.compile.hls.synth_hls` (or `write_synth_scripts`) writes, BUILD/hls:
#
#     vitis_hls -f run_hls.tcl                     # Vitis HLS up to 2024.1
#     vitis-run --mode hls --tcl run_hls.tcl       # Vitis 2024.2 and later
#
# That folder is self-contained and can be copied to another machine: hls_settings.tcl (top, part, clock,
# steps), params.h / mlp.h / rom_recip.h (the kernel's shape; no trained value), src/ (a copy of
# hls_kernels/) and csim/ (packets.txt: the build's model image as a load packet, then every golden query;
# expected.txt: the answers). Results: prj/ (the Vitis project, with the csynth
# report under prj/sol1/syn/report/), ip/ (the exported IP), csim/results_vitis.txt.

set here [file dirname [file normalize [info script]]]
source [file join $here hls_settings.tcl]

# AP_INT_MAX_W: a model image's memory lines are wider than ap_int's default limit (sw/hybrec/compile/hls.py)
set cflags "-I$here -I[file join $here src] -I[file join $here src common] -DAP_INT_MAX_W=16384"

open_project -reset [file join $here prj]
set_top $hybrec_top
add_files [file join $here src kernel hybrec_kernel_hls.cpp] -cflags $cflags
add_files -tb [file join $here src kernel kernel_tb.cpp] -cflags $cflags
open_solution -reset sol1 -flow_target vivado
set_part $hybrec_part
create_clock -period $hybrec_clock_ns -name default

set csim_args "[file join $here csim packets.txt] [file join $here csim expected.txt] [file join $here csim results_vitis.txt]"
if {[lsearch -exact $hybrec_steps csim] >= 0} {
    # kernel_tb exits non-zero on any mismatch, which stops the flow here
    csim_design -argv $csim_args
}
if {[lsearch -exact $hybrec_steps csynth] >= 0} {
    csynth_design
}
if {[lsearch -exact $hybrec_steps cosim] >= 0} {
    cosim_design -argv $csim_args
}
if {[lsearch -exact $hybrec_steps export] >= 0} {
    file mkdir [file join $here ip]
    export_design -format ip_catalog -output [file join $here ip ${hybrec_top}.zip]
}
exit
