#!/bin/sh
# check-platform.sh: platform code lives only in port/. Fails if /proc, /sys,
# ioctl, termios calls, cpuid or getauxval appear in src/ or include/ (tests
# and tools are allowed to use them; include/port.h is the port's own header).
set -u
cd "$(dirname "$0")/.." || exit 2
pat='"/proc|"/sys|\bioctl *\(|\btcsetattr\b|\btcgetattr\b|\bcfsetspeed\b|\bcfmakeraw\b|<termios\.h>|<sys/ioctl\.h>|\bcpuid\b|<cpuid\.h>|\bgetauxval\b|<sys/auxv\.h>|\bxgetbv\b'
hits=$(grep -nE "$pat" src/*.c src/*.h $(ls include/*.h | grep -v "^include/port.h$") 2>/dev/null)
if [ -n "$hits" ]; then
  echo "platform-check: platform code outside port/:"; echo "$hits"; exit 1
fi
echo "platform-check: ok (no /proc, /sys, ioctl, termios, cpuid, getauxval outside port/)"
